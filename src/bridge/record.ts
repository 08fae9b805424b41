/**
 * Log records and their keys. A record is stored as [u8 version][u32 header length][JSON header][payload];
 * keys sort by stream, then offset (16 hex digits), so a range read is an offset range.
 */
import type { MessageProperties } from '../broker/message.js';
import type { QoS } from '../protocol/codec.js';

/** The record encoding this code writes and reads (independent of the session store's format). */
export const RECORD_VERSION = 1;

/** One record of a stream. */
export interface LogRecord {
  readonly stream: string;
  /** Position in the stream: starts at 0, increases by 1 per record, never reused. */
  readonly offset: number;
  /** When the broker accepted the message, ms since the epoch. */
  readonly timestamp: number;
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  /** MQTT 5 properties: user properties, content type, correlation data, payload format, response topic. */
  readonly properties: MessageProperties | undefined;
}

/** The idempotency key of a record: `stream:offset`, stable across restarts. */
export function recordId(record: Pick<LogRecord, 'stream' | 'offset'>): string {
  return `${record.stream}:${record.offset}`;
}

const SEP = '\u0000';
const pad = (n: number) => n.toString(16).padStart(16, '0');

/** Keys of the log, all under the `L` prefix of the store. */
export const LOG_KEY = {
  record: (stream: string, offset: number) => `L${SEP}${stream}${SEP}${pad(offset)}`,
  /** Every record of a stream from `from` (inclusive) to `to` (exclusive). */
  records: (stream: string, from: number, to: number) => ({ gte: LOG_KEY.record(stream, from), lt: LOG_KEY.record(stream, to) }),
  meta: (stream: string) => `LS${SEP}${stream}`,
  metas: { gte: `LS${SEP}`, lt: `LS\u0001` },
  group: (stream: string, group: string) => `LG${SEP}${stream}${SEP}${group}`,
  groups: (stream: string) => ({ gte: `LG${SEP}${stream}${SEP}`, lt: `LG${SEP}${stream}\u0001` }),
  cursor: (sink: string) => `LC${SEP}${sink}`,
};

/** The stream name inside a meta key, or the group name inside a group key. */
export function lastPart(key: string): string {
  return key.slice(key.lastIndexOf(SEP) + 1);
}

/** The persistent state of a stream, written in the same commit as the records it describes. */
export interface StreamMeta {
  /** Lowest offset kept (everything below was removed by retention). */
  first: number;
  /** Offset the next record gets. */
  next: number;
  /** Bytes of the records kept. */
  bytes: number;
}

interface Header {
  ts: number;
  topic: string;
  qos: QoS;
  retain: boolean;
  props?: Record<string, unknown>;
}

function propsToJson(p: MessageProperties | undefined): Record<string, unknown> | undefined {
  if (!p) return undefined;
  const { correlationData, ...rest } = p;
  return correlationData === undefined ? rest : { ...rest, correlationData: correlationData.toString('base64') };
}

function propsFromJson(p: Record<string, unknown> | undefined): MessageProperties | undefined {
  if (!p) return undefined;
  const { correlationData, ...rest } = p;
  return (typeof correlationData === 'string' ? { ...rest, correlationData: Buffer.from(correlationData, 'base64') } : rest) as MessageProperties;
}

/** Encodes the stored form of a record (the offset and stream are in the key). */
export function encodeRecord(timestamp: number, m: { topic: string; payload: Buffer; qos: QoS; retain: boolean; properties: MessageProperties | undefined }): Buffer {
  const header: Header = { ts: timestamp, topic: m.topic, qos: m.qos, retain: m.retain };
  if (m.properties) header.props = propsToJson(m.properties);
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.allocUnsafe(5 + json.length + m.payload.length);
  out.writeUInt8(RECORD_VERSION, 0);
  out.writeUInt32BE(json.length, 1);
  json.copy(out, 5);
  m.payload.copy(out, 5 + json.length);
  return out;
}

/** Decodes a stored record; throws on a damaged one or an unknown version. */
export function decodeRecord(stream: string, offset: number, value: Uint8Array): LogRecord {
  const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (b.readUInt8(0) !== RECORD_VERSION) throw new Error(`log record ${stream}:${offset} has version ${b.readUInt8(0)}; this Midge reads ${RECORD_VERSION}`);
  const length = b.readUInt32BE(1);
  if (5 + length > b.length) throw new Error(`log record ${stream}:${offset} is shorter than its header`);
  const h = JSON.parse(b.toString('utf8', 5, 5 + length)) as Header;
  const payload = Buffer.from(b.subarray(5 + length));
  return { stream, offset, timestamp: h.ts, topic: h.topic, payload, qos: h.qos, retain: h.retain, properties: propsFromJson(h.props) };
}

/** The offset inside a record key. */
export function offsetOfKey(key: string): number {
  return Number.parseInt(lastPart(key), 16);
}
