import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import { closed, collect, connected, nextDisconnect, startBroker, until, type TestBroker } from '../helpers/broker.js';

let t: TestBroker;
afterEach(async () => t?.close());

describe('broker.close()', () => {
  it('sends DISCONNECT 0x8B (server shutting down) to 5.0 clients and closes 3.1.1 clients', async () => {
    t = await startBroker();
    const v5 = await t.client({ protocolVersion: 5 });
    const v4 = await t.client({ protocolVersion: 4 });
    const disconnect = nextDisconnect(v5);
    const bothClosed = Promise.all([closed(v5), closed(v4)]);
    await t.broker.close();
    expect((await disconnect).reasonCode).toBe(0x8b);
    await bothClosed;
    expect(t.broker.clientCount).toBe(0);
  });

  it('stops accepting new connections', async () => {
    t = await startBroker();
    await t.broker.close();
    await expect(t.client({ protocolVersion: 4, connectTimeout: 1000 })).rejects.toThrow();
  });
});

describe('restore from a store', () => {
  it('a new broker with the same MemoryStore restores persistent sessions and retained messages', async () => {
    const store = new MemoryStore();
    t = await startBroker({ store });
    const v4 = await t.client({ protocolVersion: 4, clientId: 'durable-4', clean: false });
    await v4.subscribeAsync('plant/+/alarm', { qos: 1 });
    const v5 = await t.client({ protocolVersion: 5, clientId: 'durable-5', clean: false, properties: { sessionExpiryInterval: 300 } });
    await v5.subscribeAsync('plant/#', { qos: 2 });
    await t.client({ protocolVersion: 4, clientId: 'ephemeral' }).then((c) => c.subscribeAsync('plant/#'));
    await v4.publishAsync('plant/state', 'running', { qos: 1, retain: true });
    await t.close();

    t = await startBroker({ store });
    expect(t.broker.retainedCount).toBe(1);
    expect(t.broker.sessionCount).toBe(2); // the clean session did not survive

    const back4 = t.open({ protocolVersion: 4, clientId: 'durable-4', clean: false });
    const back5 = t.open({ protocolVersion: 5, clientId: 'durable-5', clean: false, properties: { sessionExpiryInterval: 300 } });
    const got4 = collect(back4);
    const got5 = collect(back5);
    expect((await connected(back4)).sessionPresent).toBe(true);
    expect((await connected(back5)).sessionPresent).toBe(true);

    // subscriptions came back without a new SUBSCRIBE
    const pub = await t.client({ protocolVersion: 4 });
    await pub.publishAsync('plant/3/alarm', 'hot', { qos: 1 });
    await Promise.all([got4.waitFor(1), got5.waitFor(1)]);
    expect(got4.messages[0]).toMatchObject({ topic: 'plant/3/alarm', payload: 'hot' });
    expect(got4.messages[0]?.packet.qos).toBe(1);
    expect(got5.messages[0]?.packet.qos).toBe(1);

    // and the retained message is served to a new subscriber
    const fresh = await t.client({ protocolVersion: 5 });
    const got = collect(fresh);
    await fresh.subscribeAsync('plant/state', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ payload: 'running' });
    expect(got.messages[0]?.packet.retain).toBe(true);
  });

  it('a restored session keeps counting down its expiry', async () => {
    const store = new MemoryStore();
    t = await startBroker({ store });
    const c = await t.client({ protocolVersion: 5, clientId: 'fading', clean: false, properties: { sessionExpiryInterval: 1 } });
    await c.endAsync();
    await until(() => t.broker.clientCount === 0, 'the client to be gone');
    await t.close();
    t = await startBroker({ store });
    expect(t.broker.sessionCount).toBe(1);
    await until(() => t.broker.sessionCount === 0, 'the restored session to expire', 3000);
  });

  it('message ids keep increasing across a restore', async () => {
    const store = new MemoryStore();
    const ids: number[] = [];
    const plugins = [{ onPublished: (m: { id: number }) => void ids.push(m.id) }];
    t = await startBroker({ store, plugins });
    await t.broker.publish({ topic: 'ids/a', payload: '1', retain: true });
    await t.broker.publish({ topic: 'ids/b', payload: '2' });
    await t.close();
    t = await startBroker({ store, plugins });
    await t.broker.publish({ topic: 'ids/c', payload: '3' });
    expect(ids).toHaveLength(3);
    expect(ids[2]).toBeGreaterThan(Math.max(ids[0] as number, ids[1] as number));
  });
});
