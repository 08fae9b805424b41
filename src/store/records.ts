/**
 * The on-disk encoding of store records (format version 1). Messages are a small JSON header
 * followed by the raw payload, so payloads are stored once and never re-encoded.
 */
import type { Message, MessageProperties, QoS, WillRecord } from '../model.js';
import type { DeliveryRecord, SessionRecord } from './store.js';

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

/** Inverse of encodeMessage (with `id` in place of the recorded one, if given); throws on a damaged record. */
export function decodeMessage(buf: Uint8Array, id?: number): Message {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const length = b.readUInt32BE(0);
  if (4 + length > b.length) throw new Error('message record shorter than its header');
  const h = JSON.parse(b.toString('utf8', 4, 4 + length)) as MessageHeader;
  return {
    id: id ?? h.id,
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

const STATE_PUBREL = 1;
const SHARED = 0x40;

/**
 * A delivery record in 24 bytes plus 4 per subscription identifier (the client id is in the key):
 * [seq f64][messageId f64][size u32][packetId u16][qos u4 | retain u1 | pubrel u1 | shared u1][ids u8][ids u32...]
 * then, with the shared flag, [length u16][shared subscription UTF-8]. Format 1 readers that
 * predate the shared flag ignore the trailing bytes, so the format version stays 1.
 */
export function encodeDelivery(d: DeliveryRecord): Buffer {
  const ids = d.subscriptionIds ?? [];
  const shared = d.shared === undefined ? undefined : Buffer.from(d.shared, 'utf8');
  const base = 24 + 4 * ids.length;
  const out = Buffer.allocUnsafe(base + (shared ? 2 + shared.length : 0));
  out.writeDoubleBE(d.seq, 0);
  out.writeDoubleBE(d.messageId, 8);
  out.writeUInt32BE(d.size, 16);
  out.writeUInt16BE(d.packetId, 20);
  out[22] = d.qos | (d.retain ? 0x10 : 0) | (d.state === 'pubrel' ? STATE_PUBREL << 5 : 0) | (shared ? SHARED : 0);
  out[23] = ids.length;
  ids.forEach((id, i) => out.writeUInt32BE(id, 24 + 4 * i));
  if (shared) {
    out.writeUInt16BE(shared.length, base);
    shared.copy(out, base + 2);
  }
  return out;
}

/** Inverse of encodeDelivery. */
export function decodeDelivery(clientId: string, buf: Uint8Array): DeliveryRecord {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 24) throw new Error('delivery record too short');
  const flags = b[22] as number;
  const count = b[23] as number;
  const ids = count === 0 ? undefined : Array.from({ length: count }, (_, i) => b.readUInt32BE(24 + 4 * i));
  const base = 24 + 4 * count;
  const shared = flags & SHARED ? b.toString('utf8', base + 2, base + 2 + b.readUInt16BE(base)) : undefined;
  return {
    clientId,
    seq: b.readDoubleBE(0),
    messageId: b.readDoubleBE(8),
    size: b.readUInt32BE(16),
    packetId: b.readUInt16BE(20),
    qos: (flags & 0x0f) as 1 | 2,
    retain: (flags & 0x10) !== 0,
    state: (flags >> 5) & STATE_PUBREL ? 'pubrel' : 'publish',
    subscriptionIds: ids,
    shared,
  };
}
