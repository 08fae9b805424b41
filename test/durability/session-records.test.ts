import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';

/** Client ids with a session record in `store` now. */
async function recorded(store: MemoryStore): Promise<string[]> {
  return (await store.open()).sessions.map((r) => r.clientId).sort();
}

describe('session records in the store', () => {
  let t: TestBroker | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('a clean session without a will has none; a persistent session or one with a will has one', async () => {
    const store = new MemoryStore();
    t = await startBroker({ store });
    const clean = await t.client({ clientId: 'clean', clean: true });
    await clean.subscribeAsync('a/#', { qos: 1 });
    await t.client({ clientId: 'persistent', clean: false });
    await t.client({ clientId: 'will', clean: true, will: { topic: 'w', payload: Buffer.from('gone'), qos: 0, retain: false } });
    // A restart would end a clean session at once (broker/persistence/restore.ts) and only its will matters
    expect(await recorded(store)).toEqual(['persistent', 'will']);
  });

  it('a session resumed with a Session Expiry Interval of 0 loses its earlier record (MQTT 5)', async () => {
    const store = new MemoryStore();
    t = await startBroker({ store });
    const first = await t.client({ clientId: 'c5', protocolVersion: 5, clean: true, properties: { sessionExpiryInterval: 300 } });
    await first.subscribeAsync('a/#', { qos: 1 });
    expect(await recorded(store)).toEqual(['c5']);
    await first.endAsync();
    await t.client({ clientId: 'c5', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 0 } });
    expect(await recorded(store)).toEqual([]);
  });
});
