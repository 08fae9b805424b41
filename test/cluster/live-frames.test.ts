import { describe, expect, it } from 'vitest';
import { decodeFrame, FrameBatch, isFrame } from '../../src/cluster/live-frames.js';
import { encodeMessage } from '../../src/store/records.js';
import type { Message } from '../../src/model.js';

const message = (id: number, payload: string, extra: Partial<Message> = {}): Message => ({
  id,
  topic: 'a/b',
  payload: Buffer.from(payload),
  qos: 0,
  retain: false,
  properties: undefined,
  expiresAt: undefined,
  origin: undefined,
  ...extra,
});

function frameOf(messages: Message[], origin = 'node-incarnation', seq = 7): Buffer {
  const batch = new FrameBatch(messages[0]?.topic ?? 'a/b');
  for (const m of messages) batch.add(m);
  return batch.encode(Buffer.from(origin), seq);
}

function counter(from: number): () => number {
  let next = from;
  return () => next++;
}

describe('QoS 0 frames between nodes', () => {
  it('carry their origin, number and every message in order, each with a new id, and are told apart from a single record', () => {
    const sent = [
      message(1, 'one', { origin: 'pub-1' }),
      message(2, '', { retain: true }),
      message(3, 'x'.repeat(70_000), { origin: 'pub-1' }),
      message(4, 'props', { origin: 'pub-2', properties: { contentType: 'text/plain', correlationData: Buffer.from([1, 2]) }, expiresAt: 1_900_000_000_000 }),
      message(5, 'ü', { origin: 'pübl' }),
    ];
    const frame = frameOf(sent);
    expect(isFrame(frame)).toBe(true);
    expect(isFrame(encodeMessage(sent[0] as Message))).toBe(false);
    const { origin, seq, messages } = decodeFrame(frame, counter(100));
    expect(origin).toBe('node-incarnation');
    expect(seq).toBe(7);
    expect(messages.map((m) => m.id)).toEqual([100, 101, 102, 103, 104]);
    expect(messages.map((m) => ({ ...m, id: 0 }))).toEqual(sent.map((m) => ({ ...m, id: 0 })));
    // Payloads are copies: the NATS read buffer may be reused
    frame.fill(0);
    expect(messages[0]?.payload.toString()).toBe('one');
  });

  it('a frame number wraps at 2^32', () => {
    expect(decodeFrame(frameOf([message(1, 'p')], 'n', 2 ** 32 + 5), counter(0)).seq).toBe(5);
  });

  it('a damaged frame is refused, never read past its end', () => {
    const frame = frameOf([message(7, 'payload', { origin: 'client' }), message(8, 'p2', { properties: { contentType: 'x' } })]);
    const whole = decodeFrame(frame, counter(0)).messages.length;
    expect(whole).toBe(2);
    for (let cut = 1; cut < frame.length; cut++) {
      let messages: number;
      try {
        messages = decodeFrame(frame.subarray(0, cut), counter(0)).messages.length;
      } catch {
        continue;
      }
      // Cut exactly between messages (or after the head): a shorter valid frame, never a damaged message
      expect(messages, `cut at ${cut}`).toBeLessThan(whole);
    }
    expect(() => decodeFrame(Buffer.from([0, 1, 2]), counter(0))).toThrow();
  });

  it('an unknown message tag is refused', () => {
    const frame = frameOf([message(1, 'p')], 'n', 0);
    const tagAt = 2 + 1 + 4 + 2 + 3; // magic, origin length, origin "n", number, topic length, "a/b"
    expect(frame[tagAt]).toBe(0);
    const bad = Buffer.from(frame);
    bad[tagAt] = 0x23;
    expect(() => decodeFrame(bad, counter(0))).toThrow(/tag/);
  });
});
