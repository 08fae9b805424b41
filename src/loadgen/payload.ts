/**
 * Layout of a benchmark payload: bytes 0-3 publisher index, 4-7 sequence number (both uint32 BE),
 * 8-15 send time from process.hrtime.bigint() (uint64 BE), then zero padding up to the payload size.
 */
export const HEADER_BYTES = 16;

/** Builds a payload of `size` bytes (at least HEADER_BYTES) stamped with the current hrtime. */
export function encodePayload(size: number, publisher: number, seq: number): Buffer {
  const payload = Buffer.alloc(Math.max(size, HEADER_BYTES));
  payload.writeUInt32BE(publisher, 0);
  payload.writeUInt32BE(seq, 4);
  payload.writeBigUInt64BE(process.hrtime.bigint(), 8);
  return payload;
}

/** Publisher index of a payload, or -1 if it is too short to carry one. */
export function readPublisher(payload: Buffer): number {
  return payload.length >= HEADER_BYTES ? payload.readUInt32BE(0) : -1;
}

/** Sequence number of a payload, or -1 if it is too short to carry one. */
export function readSeq(payload: Buffer): number {
  return payload.length >= HEADER_BYTES ? payload.readUInt32BE(4) : -1;
}

/** Nanoseconds between the payload's send stamp and now (same process only). */
export function ageNs(payload: Buffer): number {
  return Number(process.hrtime.bigint() - payload.readBigUInt64BE(8));
}
