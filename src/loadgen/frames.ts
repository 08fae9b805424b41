/** Largest remaining length MQTT allows (four varint bytes). */
const MAX_REMAINING = 268_435_455;

/**
 * Splits an MQTT byte stream into packets: feed it chunks as they arrive and it calls `onFrame`
 * with each packet's first byte and its body (a view into the chunk, valid during the call).
 */
export class FrameReader {
  readonly #onFrame: (header: number, body: Buffer) => void;
  #rest: Buffer | undefined;

  /** `onFrame` is called synchronously, once per complete packet, in stream order. */
  constructor(onFrame: (header: number, body: Buffer) => void) {
    this.#onFrame = onFrame;
  }

  /** Consumes one chunk; throws on a malformed remaining length. */
  push(chunk: Buffer): void {
    const data = this.#rest === undefined ? chunk : Buffer.concat([this.#rest, chunk]);
    this.#rest = undefined;
    let offset = 0;
    while (offset < data.length) {
      const frame = frameAt(data, offset);
      if (frame === undefined) break;
      this.#onFrame(data[offset] ?? 0, data.subarray(frame.bodyStart, frame.end));
      offset = frame.end;
    }
    if (offset < data.length) this.#rest = data.subarray(offset);
  }
}

/** Bounds of the packet starting at `offset`, or undefined if it is not complete yet. */
function frameAt(data: Buffer, offset: number): { bodyStart: number; end: number } | undefined {
  let remaining = 0;
  let multiplier = 1;
  for (let i = 1; i <= 4; i++) {
    const byte = data[offset + i];
    if (byte === undefined) return undefined;
    remaining += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) {
      const bodyStart = offset + i + 1;
      const end = bodyStart + remaining;
      return end <= data.length ? { bodyStart, end } : undefined;
    }
    multiplier *= 128;
  }
  throw new Error(`malformed remaining length (over ${MAX_REMAINING} bytes)`);
}
