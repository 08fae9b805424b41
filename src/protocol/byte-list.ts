/**
 * The input buffer of mqtt-packet's parser: bl's BufferList with fast paths for the reads the
 * parser makes.
 */
import bl from 'bl';

/** The part of bl's BufferList that mqtt-packet's parser uses (bl declares its reads as properties, not methods). */
interface BufferList {
  _bufs: Buffer[];
  length: number;
  append(buf: Buffer): this;
  consume(bytes: number): this;
  readUInt8(offset?: number): number;
  readUInt16BE(offset?: number): number;
  readUInt32BE(offset?: number): number;
  slice(start?: number, end?: number): Buffer;
  toString(encoding?: string, start?: number, end?: number): string;
}

const BufferList = bl.BufferList as unknown as new () => BufferList;

/**
 * bl answers every read, even of one byte, by slicing a new Buffer view out of the list (and
 * allocating an [index, offset] pair to find it), and it drops consumed bytes by slicing another
 * view of the rest; the parser reads a PUBLISH a byte or two at a time and consumes it in three
 * steps. A read inside the first buffer, the usual case, is answered from that buffer directly,
 * and bytes consumed from it are skipped with an offset (`#head`) instead of a new view. Anything
 * else (a read across buffers or out of range) first applies the offset the way bl would have,
 * then is left to bl, so results and errors stay bl's. Measured on a 64-byte PUBLISH fed to
 * Decoder.write back to back: 2.0 µs → 1.45 µs a packet.
 */
export class ByteList extends BufferList {
  /** Bytes at the start of the first buffer already consumed. */
  #head = 0;

  // bl appends a new view of each chunk; a Buffer can be kept as it is (it shares the same memory)
  override append(buf: Buffer): this {
    if (!Buffer.isBuffer(buf)) return super.append(buf);
    this._bufs.push(buf);
    this.length += buf.length;
    return this;
  }

  override consume(bytes: number): this {
    const first = this._bufs[0];
    if (first !== undefined && Number.isInteger(bytes) && bytes > 0 && this.#head + bytes < first.length) {
      this.#head += bytes;
      this.length -= bytes;
      return this;
    }
    this.#settle();
    return super.consume(bytes);
  }

  override readUInt8(offset = 0): number {
    const at = this.#inFirst(offset, 1);
    if (at >= 0) return (this._bufs[0] as Buffer)[at] as number;
    this.#settle();
    return super.readUInt8(offset);
  }

  override readUInt16BE(offset = 0): number {
    const at = this.#inFirst(offset, 2);
    if (at >= 0) return (this._bufs[0] as Buffer).readUInt16BE(at);
    this.#settle();
    return super.readUInt16BE(offset);
  }

  override readUInt32BE(offset = 0): number {
    const at = this.#inFirst(offset, 4);
    if (at >= 0) return (this._bufs[0] as Buffer).readUInt32BE(at);
    this.#settle();
    return super.readUInt32BE(offset);
  }

  override slice(start?: number, end?: number): Buffer {
    // bl returns the first buffer itself for the whole of a one-buffer list: left to bl
    const at = start !== 0 || end !== this.length ? this.#rangeInFirst(start, end) : -1;
    if (at >= 0) return (this._bufs[0] as Buffer).subarray(at, at + (end as number) - (start as number));
    this.#settle();
    return super.slice(start, end);
  }

  override toString(encoding?: string, start?: number, end?: number): string {
    const at = this.#rangeInFirst(start, end);
    if (at >= 0) return (this._bufs[0] as Buffer).toString(encoding as BufferEncoding, at, at + (end as number) - (start as number));
    this.#settle();
    return super.toString(encoding, start, end);
  }

  /** True when the bytes in [start, end) are `bytes`; false too when they are not all in the first buffer. */
  matches(start: number, end: number, bytes: Uint8Array): boolean {
    const size = end - start;
    if (size !== bytes.length) return false;
    const at = this.#inFirst(start, size);
    if (at < 0) return false;
    const first = this._bufs[0] as Buffer;
    // A loop rather than Buffer.equals, a call into C++: measured here with cold caches, such calls
    // cost 0.2-1.8 µs each, more than comparing a topic of a few dozen bytes
    for (let i = 0; i < size; i++) if (first[at + i] !== bytes[i]) return false;
    return true;
  }

  /** Where `size` bytes at `offset` start in the first buffer, or -1 when they are not all in it. */
  #inFirst(offset: number, size: number): number {
    const first = this._bufs[0];
    if (first === undefined || !Number.isInteger(offset) || offset < 0) return -1;
    const at = this.#head + offset;
    return at + size <= first.length ? at : -1;
  }

  /** Where the non-empty range [start, end) starts in the first buffer, or -1 when it is not all in it. */
  #rangeInFirst(start: number | undefined, end: number | undefined): number {
    if (start === undefined || end === undefined || !Number.isInteger(end) || end <= start) return -1;
    return this.#inFirst(start, end - start);
  }

  /** Drops the consumed bytes the way bl does (a view of the rest), so that bl's own methods apply. */
  #settle(): void {
    if (this.#head === 0) return;
    this._bufs[0] = (this._bufs[0] as Buffer).subarray(this.#head);
    this.#head = 0;
  }
}
