import { describe, expect, it } from 'vitest';
import { decodeDelivery, encodeDelivery } from '../../src/store/records.js';
import type { DeliveryRecord } from '../../src/store/store.js';

const base: DeliveryRecord = { clientId: 'c', seq: 7, messageId: 42, qos: 2, retain: true, subscriptionIds: [3, 9], packetId: 11, state: 'pubrel', size: 100 };

describe('delivery records (format 1)', () => {
  it('round-trip every field', () => {
    expect(decodeDelivery('c', encodeDelivery(base))).toEqual({ ...base, shared: undefined });
  });

  it('carry the shared subscription a delivery came through', () => {
    const shared = { ...base, shared: '$share/wörkers/jobs/#' };
    expect(decodeDelivery('c', encodeDelivery(shared))).toEqual(shared);
  });

  it('records written before the shared flag existed still read (24 bytes + ids, no trailer)', () => {
    const old = Buffer.alloc(24 + 4);
    old.writeDoubleBE(1, 0);
    old.writeDoubleBE(5, 8);
    old.writeUInt32BE(3, 16);
    old.writeUInt16BE(0, 20);
    old[22] = 1;
    old[23] = 1;
    old.writeUInt32BE(8, 24);
    expect(decodeDelivery('x', old)).toEqual({ clientId: 'x', seq: 1, messageId: 5, size: 3, packetId: 0, qos: 1, retain: false, state: 'publish', subscriptionIds: [8], shared: undefined });
  });
});
