import { describe, expect, it } from 'vitest';
import { headers, type Msg } from 'nats';
import { republished } from '../../src/cluster/republished.js';

/** A message as nats.js 2.29 keeps it: raw bytes with the header block first (`hdr` bytes; -1: none). */
function raw(block: string | undefined, payload = 'p'): Msg {
  const head = block === undefined ? Buffer.alloc(0) : Buffer.from(block, 'latin1');
  return { _msg: { hdr: block === undefined ? -1 : head.length }, _rdata: Buffer.concat([head, Buffer.from(payload)]), subject: 'midge.live.a' } as unknown as Msg;
}

describe('the republish facts of a live stored message', () => {
  it('come from the raw header block: sequence, stored subject, previous sequence', () => {
    const block = 'NATS/1.0\r\nNats-Stream: M_MSGS\r\nNats-Subject: m.msgs.a.b\r\nNats-Sequence: 42\r\nNats-Time-Stamp: 2026-12-03T15:00:00Z\r\nNats-Last-Sequence: 40\r\nMidge-Node: x\r\n\r\n';
    expect(republished(raw(block))).toEqual({ seq: 42, subject: 'm.msgs.a.b', last: 40 });
    // The first stored message of a subject: previous sequence 0
    expect(republished(raw('NATS/1.0\r\nNats-Sequence: 1\r\nNats-Subject: m.msgs.a\r\nNats-Last-Sequence: 0\r\n\r\n'))).toEqual({ seq: 1, subject: 'm.msgs.a', last: 0 });
  });

  it('are absent for a message without headers (a QoS 0 frame) or without a sequence', () => {
    expect(republished(raw(undefined))).toBeUndefined();
    expect(republished(raw('NATS/1.0\r\nMidge-Node: x\r\n\r\n'))).toBeUndefined();
  });

  it('come from nats.js headers when the message does not look like nats.js 2.29 inside', () => {
    const h = headers();
    h.set('Nats-Sequence', '7');
    h.set('Nats-Subject', 'm.msgs.t');
    h.set('Nats-Last-Sequence', '5');
    expect(republished({ headers: h, subject: 'm.live.t', data: new Uint8Array() } as unknown as Msg)).toEqual({ seq: 7, subject: 'm.msgs.t', last: 5 });
    expect(republished({ headers: undefined, subject: 'm.live.t', data: new Uint8Array() } as unknown as Msg)).toBeUndefined();
  });
});
