import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, isFrame } from '../../src/cluster/live-frames.js';
import { decodeMessage, encodeMessage } from '../../src/store/records.js';
import type { Message } from '../../src/model.js';

const message = (id: number, payload: string): Message => ({ id, topic: `a/${id}`, payload: Buffer.from(payload), qos: 0, retain: false, properties: undefined, expiresAt: undefined, origin: undefined });

describe('QoS 0 frames between nodes', () => {
  it('carry their origin and every record in order, and are told apart from a single record', () => {
    const records = [encodeMessage(message(1, 'one')), encodeMessage(message(2, '')), encodeMessage(message(3, 'x'.repeat(70_000)))];
    const frame = encodeFrame(Buffer.from('node-incarnation'), records, records.reduce((n, r) => n + r.length, 0));
    expect(isFrame(frame)).toBe(true);
    expect(isFrame(records[0] as Buffer)).toBe(false);
    const { origin, records: back } = decodeFrame(frame);
    expect(origin).toBe('node-incarnation');
    expect(back.map((r) => decodeMessage(r).payload.toString())).toEqual(['one', '', 'x'.repeat(70_000)]);
    expect(back.map((r) => decodeMessage(r).id)).toEqual([1, 2, 3]);
  });

  it('a damaged frame is refused, never read past its end', () => {
    const record = encodeMessage(message(7, 'payload'));
    const frame = encodeFrame(Buffer.from('n'), [record], record.length);
    for (let cut = 1; cut < frame.length; cut++) {
      if (cut === 3) continue; // the origin alone, no records: a valid empty frame
      expect(() => decodeFrame(frame.subarray(0, cut)), `cut at ${cut}`).toThrow();
    }
    expect(() => decodeFrame(Buffer.from([0, 1, 2]))).toThrow();
  });
});
