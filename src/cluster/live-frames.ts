/**
 * QoS 0 messages between nodes travel in frames: NATS messages without NATS headers that name
 * their origin themselves and carry every message of one topic that a node accepted in one
 * event-loop turn, in order. A frame is
 *
 *   [0xB2][u8 n][n bytes: the sending node's incarnation][u32 frame number][u16 t][t bytes: the topic, UTF-8]
 *   then per message: [u8 tag][u32 length][length bytes]
 *
 * A message without MQTT 5 properties or expiry is `tag` = QoS | (retain ? 4 : 0) | (origin ? 8 : 0)
 * and, with an origin (the publisher's client id), [u16 o][o bytes: origin, UTF-8], then its
 * payload; any other is `tag` 0xFF and its `encodeMessage` record. The frame number (counting per
 * incarnation, wrapping at 2^32) tells a frame that overlapping subscriptions bring twice. A stored
 * message or a shared hand-over is a single `encodeMessage` record, whose first byte is 0 (a u32
 * header length), so it never looks like a frame. Without NATS headers, JSON or a topic per
 * message, a receiving node decodes little per message.
 */
import type { Message, QoS } from '../model.js';
import { decodeMessage, encodeMessage } from '../store/records.js';

/** The first byte of a frame. */
export const FRAME_MAGIC = 0xb2;
/** The tag of a message carried as a whole `encodeMessage` record. */
const FULL = 0xff;

/** True when `data` is a frame (not a single record). */
export function isFrame(data: Uint8Array): boolean {
  return data.length > 0 && data[0] === FRAME_MAGIC;
}

/** Whether `m` travels without JSON (nothing but topic, QoS, retain and a short origin to carry). */
function plain(m: Message): boolean {
  return m.properties === undefined && m.expiresAt === undefined && (m.origin === undefined || m.origin.length < 16_384);
}

/** The messages of one topic for one frame, in order, and the bytes they take. */
export class FrameBatch {
  readonly topic: string;
  readonly #messages: Message[] = [];
  /** Encoded full records, in step with #messages (undefined for plain ones). */
  readonly #full: (Buffer | undefined)[] = [];
  /** Byte lengths of the plain messages' origins, in step with #messages (-1: none). */
  readonly #origins: number[] = [];
  #bytes = 0;

  constructor(topic: string) {
    this.topic = topic;
  }

  get size(): number {
    return this.#messages.length;
  }

  /** The bytes of the messages' parts of the frame. */
  get bytes(): number {
    return this.#bytes;
  }

  add(m: Message): void {
    const full = plain(m) ? undefined : encodeMessage(m);
    const origin = full === undefined && m.origin !== undefined ? Buffer.byteLength(m.origin) : -1;
    this.#messages.push(m);
    this.#full.push(full);
    this.#origins.push(origin);
    this.#bytes += 5 + (full === undefined ? (origin >= 0 ? 2 + origin : 0) + m.payload.length : full.length);
  }

  /** The frame of these messages from `origin` (ASCII, under 256 bytes), numbered `seq`. */
  encode(origin: Buffer, seq: number): Buffer {
    const topicLength = Buffer.byteLength(this.topic);
    const start = 2 + origin.length + 4 + 2 + topicLength;
    const out = Buffer.allocUnsafe(start + this.#bytes);
    out[0] = FRAME_MAGIC;
    out[1] = origin.length;
    origin.copy(out, 2);
    let at = 2 + origin.length;
    out.writeUInt32BE(seq >>> 0, at);
    out.writeUInt16BE(topicLength, at + 4);
    out.write(this.topic, at + 6, 'utf8');
    at = start;
    for (let i = 0; i < this.#messages.length; i++) {
      const m = this.#messages[i] as Message;
      const full = this.#full[i];
      if (full !== undefined) {
        out[at] = FULL;
        out.writeUInt32BE(full.length, at + 1);
        full.copy(out, at + 5);
        at += 5 + full.length;
        continue;
      }
      const origin = this.#origins[i] as number;
      const length = (origin >= 0 ? 2 + origin : 0) + m.payload.length;
      out[at] = m.qos | (m.retain ? 4 : 0) | (origin >= 0 ? 8 : 0);
      out.writeUInt32BE(length, at + 1);
      at += 5;
      if (origin >= 0) {
        out.writeUInt16BE(origin, at);
        out.write(m.origin as string, at + 2, 'utf8');
        at += 2 + origin;
      }
      m.payload.copy(out, at);
      at += m.payload.length;
    }
    return out;
  }
}

/** A frame's origin and number, and its messages with ids from `nextId` (payloads copied); throws on a damaged frame. */
export function decodeFrame(data: Uint8Array, nextId: () => number): { origin: string; seq: number; messages: Message[] } {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < 2 || b[0] !== FRAME_MAGIC) throw new Error('not a frame');
  const n = b[1] as number;
  if (2 + n + 6 > b.length) throw new Error('frame shorter than its head');
  const origin = b.toString('latin1', 2, 2 + n);
  const seq = b.readUInt32BE(2 + n);
  const topicLength = b.readUInt16BE(2 + n + 4);
  let at = 2 + n + 6 + topicLength;
  if (at > b.length) throw new Error('frame shorter than its topic');
  const topic = b.toString('utf8', at - topicLength, at);
  const messages: Message[] = [];
  // The messages of a frame mostly come from few publishers: an origin like the last one is the same string
  let lastOrigin: string | undefined;
  let lastAt = 0;
  let lastLength = -1;
  while (at < b.length) {
    if (at + 5 > b.length) throw new Error('frame cut inside a message head');
    const tag = b[at] as number;
    const length = b.readUInt32BE(at + 1);
    const end = at + 5 + length;
    if (end > b.length) throw new Error('frame cut inside a message');
    if (tag === FULL) messages.push(decodeMessage(b.subarray(at + 5, end), nextId()));
    else if ((tag & 3) === 3 || tag > 15) throw new Error(`unknown message tag ${tag} in a frame`);
    else {
      let body = at + 5;
      let origin: string | undefined;
      if ((tag & 8) !== 0) {
        if (body + 2 > end) throw new Error('frame cut inside an origin');
        const o = b.readUInt16BE(body);
        if (body + 2 + o > end) throw new Error('frame cut inside an origin');
        if (o === lastLength && b.compare(b, lastAt, lastAt + o, body + 2, body + 2 + o) === 0) origin = lastOrigin;
        else {
          origin = lastOrigin = b.toString('utf8', body + 2, body + 2 + o);
          lastLength = o;
        }
        lastAt = body + 2;
        body += 2 + o;
      }
      const payload = Buffer.allocUnsafe(end - body);
      b.copy(payload, 0, body, end);
      messages.push({ id: nextId(), topic, payload, qos: (tag & 3) as QoS, retain: (tag & 4) !== 0, properties: undefined, expiresAt: undefined, origin });
    }
    at = end;
  }
  return { origin, seq, messages };
}
