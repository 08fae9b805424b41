import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/broker/message.js';
import type { SessionRecord, Store } from '../../src/store/store.js';

/** Creates a fresh store, and reopens one over the same backing state (a restart). */
export interface StoreFactory {
  create(): Promise<Store>;
  reopen(previous: Store): Promise<Store>;
}

function message(id: number, topic: string, payload = 'p'): Message {
  return { id, topic, payload: Buffer.from(payload), qos: 1, retain: true, properties: { contentType: 'text/plain' }, expiresAt: undefined, origin: 'c1' };
}

function session(clientId: string, filters: string[]): SessionRecord {
  return {
    clientId,
    expiryInterval: 3600,
    subscriptions: filters.map((filter) => ({
      clientId, filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, identifier: undefined, group: undefined,
    })),
    will: { topic: `status/${clientId}`, payload: Buffer.from('gone'), qos: 1, retain: true, properties: undefined, messageExpiryInterval: undefined, delayInterval: 5 },
    willDueAt: undefined,
    disconnectedAt: 1_700_000_000_000,
  };
}

/** The behaviour every Store implementation must have. */
export function storeContract(name: string, factory: StoreFactory): void {
  describe(`Store contract: ${name}`, () => {
    it('a new store opens empty', async () => {
      const store = await factory.create();
      const state = await store.open();
      expect(state.sessions).toEqual([]);
      expect(state.retained).toEqual([]);
      expect(state.nextMessageId).toBeGreaterThanOrEqual(1);
      await store.close();
    });

    it('restores sessions and retained messages written before a restart', async () => {
      const store = await factory.create();
      await store.open();
      store.saveSession(session('c1', ['a/#', 'b/+']));
      store.saveSession(session('c2', ['x']));
      store.saveRetained(message(7, 'a/b', 'one'));
      store.saveRetained(message(9, 'a/c'));
      await store.flush();
      await store.close();
      const reopened = await factory.reopen(store);
      const state = await reopened.open();
      expect(state.sessions.map((s) => s.clientId).sort()).toEqual(['c1', 'c2']);
      const c1 = state.sessions.find((s) => s.clientId === 'c1');
      expect(c1).toEqual(session('c1', ['a/#', 'b/+']));
      const retained = [...state.retained].sort((a, b) => a.id - b.id);
      expect(retained.map((m) => [m.id, m.topic, m.payload.toString()])).toEqual([[7, 'a/b', 'one'], [9, 'a/c', 'p']]);
      expect(retained[0]?.properties).toEqual({ contentType: 'text/plain' });
      await reopened.close();
    });

    it('a later write replaces the earlier one, and deletes stick', async () => {
      const store = await factory.create();
      await store.open();
      store.saveSession(session('c1', ['a']));
      store.saveSession(session('c1', ['b']));
      store.saveSession(session('gone', ['z']));
      store.deleteSession('gone');
      store.saveRetained(message(1, 't', 'old'));
      store.saveRetained(message(2, 't', 'new'));
      store.saveRetained(message(3, 'cleared'));
      store.deleteRetained('cleared');
      await store.flush();
      await store.close();
      const state = await (await factory.reopen(store)).open();
      expect(state.sessions.map((s) => s.subscriptions.map((x) => x.filter))).toEqual([['b']]);
      expect(state.retained.map((m) => m.payload.toString())).toEqual(['new']);
    });

    it('restores deliveries, their messages and inbound QoS 2 ids, and counts references', async () => {
      const store = await factory.create();
      await store.open();
      const shared = message(40, 'feed', 'shared');
      store.saveMessage(shared, true);
      const base = { messageId: 40, qos: 2 as const, retain: false, size: 6 };
      store.saveDelivery({ ...base, clientId: 'a', seq: 1, subscriptionIds: [3, 70000], packetId: 9, state: 'pubrel' }, true);
      store.saveDelivery({ ...base, clientId: 'b', seq: 5, subscriptionIds: undefined, packetId: 0, state: 'publish' }, true);
      store.saveDelivery({ ...base, clientId: 'b', seq: 6, subscriptionIds: undefined, packetId: 0, state: 'publish' }, true);
      store.deleteDelivery('b', 6);
      store.saveInbound({ clientId: 'a', packetId: 12 });
      store.saveInbound({ clientId: 'a', packetId: 13 });
      store.deleteInbound({ clientId: 'a', packetId: 13 });
      await store.flush();
      await store.close();
      const state = await (await factory.reopen(store)).open();
      const byKey = [...state.deliveries].sort((x, y) => x.seq - y.seq);
      expect(byKey).toEqual([
        { ...base, clientId: 'a', seq: 1, subscriptionIds: [3, 70000], packetId: 9, state: 'pubrel' },
        { ...base, clientId: 'b', seq: 5, subscriptionIds: undefined, packetId: 0, state: 'publish' },
      ]);
      expect(state.messages.map((m) => m.payload.toString())).toEqual(['shared']);
      expect(state.references.get(40)).toBe(2);
      expect(state.inbound).toEqual([{ clientId: 'a', packetId: 12 }]);
    });

    it('message ids never go backwards across a restart', async () => {
      const store = await factory.create();
      await store.open();
      store.saveMessageIdFloor(500);
      store.saveMessageIdFloor(100); // a lower floor never lowers it
      await store.flush();
      await store.close();
      const state = await (await factory.reopen(store)).open();
      expect(state.nextMessageId).toBeGreaterThanOrEqual(500);
    });
  });
}
