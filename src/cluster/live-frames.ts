/**
 * QoS 0 messages between nodes travel in frames, NATS messages without NATS headers that name
 * their origin themselves. A frame is
 *
 *   [0xB1][u8 n][n bytes: the sending node's incarnation][u32 length][record] …
 *
 * where each record is `encodeMessage`'s. A record starts with its u32 header length, whose first
 * byte is 0, so a frame and a single record (a shared hand-over, a stored message) never look alike.
 * Without NATS headers the receiving node decodes no header block per message. Nodes send one
 * record per frame today (see ClusterNode.#sendLive); receivers take any number.
 */

/** The first byte of a frame. */
export const FRAME_MAGIC = 0xb1;

/** True when `data` is a frame (not a single record). */
export function isFrame(data: Uint8Array): boolean {
  return data.length > 0 && data[0] === FRAME_MAGIC;
}

/** One frame of `records` from the node whose incarnation is `origin` (ASCII, under 256 bytes). */
export function encodeFrame(origin: Buffer, records: readonly Buffer[], bytes: number): Buffer {
  const out = Buffer.allocUnsafe(2 + origin.length + 4 * records.length + bytes);
  out[0] = FRAME_MAGIC;
  out[1] = origin.length;
  origin.copy(out, 2);
  let at = 2 + origin.length;
  for (const record of records) {
    out.writeUInt32BE(record.length, at);
    record.copy(out, at + 4);
    at += 4 + record.length;
  }
  return out;
}

/** The origin and records of a frame (views into `data`); throws on a damaged frame. */
export function decodeFrame(data: Uint8Array): { origin: string; records: Buffer[] } {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < 2 || b[0] !== FRAME_MAGIC) throw new Error('not a frame');
  const n = b[1] as number;
  if (2 + n > b.length) throw new Error('frame shorter than its origin');
  const origin = b.toString('latin1', 2, 2 + n);
  const records: Buffer[] = [];
  let at = 2 + n;
  while (at < b.length) {
    if (at + 4 > b.length) throw new Error('frame cut inside a record length');
    const length = b.readUInt32BE(at);
    if (at + 4 + length > b.length) throw new Error('frame cut inside a record');
    records.push(b.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return { origin, records };
}
