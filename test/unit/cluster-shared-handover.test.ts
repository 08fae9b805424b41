import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/model.js';
import { endShared, handOverShared, movable } from '../../src/cluster/shared-handover.js';
import { LOCAL_MESSAGE_IDS, type ClusterSessionRecord, type StoredDelivery } from '../../src/cluster/session-record.js';

const id = (n: number) => LOCAL_MESSAGE_IDS + n;

function message(n: number, expiresAt?: number): Message {
  return { id: id(n), topic: 't', payload: Buffer.from(`m${n}`), qos: 2, retain: false, properties: undefined, expiresAt, origin: undefined, messageExpiryInterval: undefined, delayInterval: 0 } as Message;
}

function delivery(seq: number, n: number, extra: Partial<StoredDelivery> = {}): StoredDelivery {
  return { seq, messageId: id(n), qos: 1, retain: false, subscriptionIds: undefined, packetId: 0, state: 'publish', size: 2, shared: '$share/g/t', ...extra };
}

function record(deliveries: StoredDelivery[], messages: Message[], frontier = 0): ClusterSessionRecord {
  return { clientId: 'c', owner: { node: 'n', incarnation: 'i' }, session: undefined, frontier, floor: 0, deliveries, messages, inbound: [] };
}

describe('handing a dead node\'s shared-subscription messages on', () => {
  it('moves QoS 1 deliveries, sent or not; a QoS 2 one stays, even never sent (the hand-over is at least once) [MQTT-4.8.2-5]', () => {
    expect(movable(delivery(1, 1, { packetId: 7 }))).toBe(true);
    expect(movable(delivery(1, 1))).toBe(true);
    expect(movable(delivery(5, 1, { qos: 2 }))).toBe(false); // never sent
    expect(movable(delivery(4, 1, { qos: 2 }))).toBe(false); // within the send frontier: may have been sent
    expect(movable(delivery(5, 1, { qos: 2, packetId: 3 }))).toBe(false);
    expect(movable(delivery(5, 1, { qos: 2, state: 'pubrel', packetId: 3 }))).toBe(false);
    expect(movable(delivery(5, 1, { shared: undefined }))).toBe(false);
  });

  it('takes out only what a member took, keeps what none took or what expired, and drops the moved messages from the record', async () => {
    const now = 1_000_000;
    const r = record([delivery(1, 1), delivery(2, 2), delivery(3, 3), delivery(4, 4, { shared: undefined }), delivery(5, 5, { qos: 2, packetId: 9 })], [message(1), message(2), message(3, now - 1), message(4), message(5)]);
    const offered: string[] = [];
    const result = await handOverShared(
      r,
      {
        offer: (m, filter, group) => {
          offered.push(`${m.payload.toString()} ${group} ${filter}`);
          return Promise.resolve(m.payload.toString() !== 'm2'); // nobody takes m2
        },
        read: () => Promise.reject(new Error('not in the stream')),
      },
      now,
    );
    expect(offered).toEqual(['m1 g t', 'm2 g t']); // m3 expired, m4 not shared, m5 a sent QoS 2
    expect(result.moved).toBe(1);
    expect(result.kept).toBe(2); // of the movable ones: m2 (nobody took it) and m3 (expired)
    expect(result.record.deliveries.map((d) => d.seq)).toEqual([2, 3, 4, 5]);
    expect(result.record.messages.map((m) => m.payload.toString())).toEqual(['m2', 'm3', 'm4', 'm5']);
  });

  it('keeps a delivery whose stream message cannot be read', async () => {
    const r = record([delivery(1, 1, { messageId: 42 })], []);
    const result = await handOverShared(r, { offer: () => Promise.resolve(true), read: () => Promise.reject(new Error('JetStream unavailable')) });
    expect(result.moved).toBe(0);
    expect(result.record).toBe(r);
  });

  it('a session that ends elsewhere: its QoS 1 shared messages move, every other shared message it held is reported dropped (expired ones as expired)', async () => {
    const now = 1_000_000;
    const r = record([delivery(1, 1), delivery(2, 2), delivery(3, 3, { qos: 2 }), delivery(4, 4, { shared: undefined }), delivery(5, 5, { qos: 2, packetId: 9 }), delivery(6, 6)], [message(1), message(2), message(3), message(4), message(5), message(6, now - 1)]);
    const dropped: string[] = [];
    const result = await endShared(
      r,
      {
        offer: (m) => Promise.resolve(m.payload.toString() !== 'm2'), // nobody takes m2
        read: () => Promise.reject(new Error('not in the stream')),
        dropped: (m, reason) => dropped.push(`${m.payload.toString()} ${reason}`),
      },
      now,
    );
    expect(result).toEqual({ moved: 1, dropped: 4 });
    expect(dropped).toEqual(['m2 session-ended', 'm3 session-ended', 'm5 session-ended', 'm6 expired']); // m4 is not shared
  });
});
