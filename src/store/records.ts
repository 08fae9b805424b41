/**
 * The on-disk encoding of store records (format version 1). Messages are a small JSON header
 * followed by the raw payload, so payloads are stored once and never re-encoded.
 */
import type { Message, MessageProperties } from '../broker/message.js';
import type { QoS } from '../protocol/codec.js';
import type { SessionRecord, WillRecord } from './store.js';

/** The format this code writes and reads. Bump it, and add a migration, when a record changes shape. */
export const FORMAT_VERSION = 1;

type JsonProperties = Omit<MessageProperties, 'correlationData'> & { correlationData?: string };

function propertiesToJson(p: MessageProperties | undefined): JsonProperties | undefined {
  if (!p) return undefined;
  const { correlationData, ...rest } = p;
  return correlationData === undefined ? rest : { ...rest, correlationData: correlationData.toString('base64') };
}

function propertiesFromJson(p: JsonProperties | undefined): MessageProperties | undefined {
  if (!p) return undefined;
  const { correlationData, ...rest } = p;
  return correlationData === undefined ? rest : { ...rest, correlationData: Buffer.from(correlationData, 'base64') };
}

interface MessageHeader {
  id: number;
  topic: string;
  qos: QoS;
  retain: boolean;
  properties?: JsonProperties;
  expiresAt?: number;
  origin?: string;
}

/** [u32 header length][JSON header][payload]. */
export function encodeMessage(m: Message): Buffer {
  const header: MessageHeader = { id: m.id, topic: m.topic, qos: m.qos, retain: m.retain };
  if (m.properties) header.properties = propertiesToJson(m.properties);
  if (m.expiresAt !== undefined) header.expiresAt = m.expiresAt;
  if (m.origin !== undefined) header.origin = m.origin;
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.allocUnsafe(4 + json.length + m.payload.length);
  out.writeUInt32BE(json.length, 0);
  json.copy(out, 4);
  m.payload.copy(out, 4 + json.length);
  return out;
}

/** Inverse of encodeMessage; throws on a damaged record. */
export function decodeMessage(buf: Uint8Array): Message {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const length = b.readUInt32BE(0);
  if (4 + length > b.length) throw new Error('message record shorter than its header');
  const h = JSON.parse(b.toString('utf8', 4, 4 + length)) as MessageHeader;
  return {
    id: h.id,
    topic: h.topic,
    payload: Buffer.from(b.subarray(4 + length)),
    qos: h.qos,
    retain: h.retain,
    properties: propertiesFromJson(h.properties),
    expiresAt: h.expiresAt,
    origin: h.origin,
  };
}

type JsonWill = Omit<WillRecord, 'payload' | 'properties'> & { payload: string; properties?: JsonProperties };

/** A session record as JSON (will payloads and correlation data in base64). */
export function encodeSession(s: SessionRecord): Buffer {
  const will: JsonWill | undefined = s.will && {
    ...s.will,
    payload: s.will.payload.toString('base64'),
    properties: propertiesToJson(s.will.properties),
  };
  return Buffer.from(JSON.stringify({ ...s, will }));
}

/** Inverse of encodeSession. */
export function decodeSession(buf: Uint8Array): SessionRecord {
  const raw = JSON.parse(Buffer.from(buf).toString('utf8')) as Omit<SessionRecord, 'will'> & { will?: JsonWill };
  const will: WillRecord | undefined = raw.will && {
    ...raw.will,
    payload: Buffer.from(raw.will.payload, 'base64'),
    properties: propertiesFromJson(raw.will.properties),
  };
  return {
    clientId: raw.clientId,
    expiryInterval: raw.expiryInterval,
    subscriptions: raw.subscriptions,
    will,
    willDueAt: raw.willDueAt,
    disconnectedAt: raw.disconnectedAt,
  };
}
