/**
 * Log records and their keys (the encoding is described at encodeRecord); keys sort by stream, then offset (16 hex digits), so a range read is an offset range.
 */
import type { MessageContent, MessageProperties, QoS } from '../model.js';

/** The record encoding this code writes and reads (independent of the session store's format). */
export const RECORD_VERSION = 1;

/** One record of a stream: a message's content with its place in the stream. */
export interface LogRecord extends MessageContent {
  readonly stream: string;
  /** Position in the stream: starts at 0, increases by 1 per record, never reused. */
  readonly offset: number;
  /** When the broker accepted the message, ms since the epoch. */
  readonly timestamp: number;
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

function propsToJson(p: MessageProperties): Record<string, unknown> {
  const { correlationData, ...rest } = p;
  return correlationData === undefined ? rest : { ...rest, correlationData: correlationData.toString('base64') };
}

function propsFromJson(p: Record<string, unknown>): MessageProperties {
  const { correlationData, ...rest } = p;
  return (typeof correlationData === 'string' ? { ...rest, correlationData: Buffer.from(correlationData, 'base64') } : rest) as MessageProperties;
}

const FLAG_RETAIN = 4;
const FLAG_PROPERTIES = 8;
/** version, timestamp, flags, topic length. */
const FIXED = 1 + 8 + 1 + 2;

/**
 * Encodes the stored form of a record (stream and offset are in the key): [u8 version][f64 timestamp]
 * [u8 flags: qos | retain 4 | properties 8][u16 topic length][topic][u32 length, properties JSON][payload].
 * Binary, so the common record (no MQTT 5 properties) costs no JSON.
 */
export function encodeRecord(timestamp: number, m: { topic: string; payload: Buffer; qos: QoS; retain: boolean; properties: MessageProperties | undefined }): Buffer {
  const topicLength = Buffer.byteLength(m.topic);
  const props = m.properties ? Buffer.from(JSON.stringify(propsToJson(m.properties))) : undefined;
  const out = Buffer.allocUnsafe(FIXED + topicLength + (props ? 4 + props.length : 0) + m.payload.length);
  out.writeUInt8(RECORD_VERSION, 0);
  out.writeDoubleBE(timestamp, 1);
  out.writeUInt8(m.qos | (m.retain ? FLAG_RETAIN : 0) | (props ? FLAG_PROPERTIES : 0), 9);
  out.writeUInt16BE(topicLength, 10);
  let at = FIXED + out.write(m.topic, FIXED);
  if (props) {
    out.writeUInt32BE(props.length, at);
    at += 4 + props.copy(out, at + 4);
  }
  m.payload.copy(out, at);
  return out;
}

/** Decodes a stored record; throws on a damaged one or an unknown version. */
export function decodeRecord(stream: string, offset: number, value: Uint8Array): LogRecord {
  const b = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const where = `log record ${stream}:${offset}`;
  if (b.length < FIXED) throw new Error(`${where} is truncated`);
  if (b.readUInt8(0) !== RECORD_VERSION) throw new Error(`${where} has version ${b.readUInt8(0)}; this Midge reads ${RECORD_VERSION}`);
  const flags = b.readUInt8(9);
  let at = FIXED + b.readUInt16BE(10);
  if (at > b.length) throw new Error(`${where} is shorter than its topic`);
  const topic = b.toString('utf8', FIXED, at);
  let properties: MessageProperties | undefined;
  if (flags & FLAG_PROPERTIES) {
    const length = b.readUInt32BE(at);
    properties = propsFromJson(JSON.parse(b.toString('utf8', at + 4, at + 4 + length)) as Record<string, unknown>);
    at += 4 + length;
  }
  if (at > b.length) throw new Error(`${where} is shorter than its header`);
  return { stream, offset, timestamp: b.readDoubleBE(1), topic, payload: Buffer.from(b.subarray(at)), qos: (flags & 3) as QoS, retain: (flags & FLAG_RETAIN) !== 0, properties };
}

/** The offset inside a record key. */
export function offsetOfKey(key: string): number {
  return Number.parseInt(lastPart(key), 16);
}
