import { afterEach, describe, expect, it } from 'vitest';
import { closed, collect, connackOf, connected, nextDisconnect, startBroker, until, type TestBroker } from '../helpers/broker.js';

let t: TestBroker;
afterEach(async () => t?.close());

/** Waits until the broker has seen `count` connections close (so a reconnect cannot race a takeover). */
function clientsDown(count = 0): Promise<void> {
  return until(() => t.broker.clientCount === count, `broker.clientCount === ${count}`);
}

describe('CONNECT / CONNACK', () => {
  it('[MQTT-3.1.2-1] accepts MQTT 3.1 ("MQIsdp", level 3) and routes its messages', async () => {
    t = await startBroker();
    const c = await t.client({ protocolVersion: 3, protocolId: 'MQIsdp', clientId: 'v31' });
    expect(connackOf(c)).toMatchObject({ returnCode: 0, sessionPresent: false });
    const got = collect(c);
    await c.subscribeAsync('v31/t', { qos: 1 });
    await c.publishAsync('v31/t', 'hello 3.1', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'v31/t', payload: 'hello 3.1' });
    expect(got.messages[0]?.packet.qos).toBe(1);
  });

  it('accepts MQTT 3.1.1 (level 4) with return code 0', async () => {
    t = await startBroker();
    const c = await t.client({ protocolVersion: 4, clientId: 'v311' });
    expect(connackOf(c)).toMatchObject({ returnCode: 0, sessionPresent: false });
  });

  it('accepts MQTT 5.0 (level 5) with reason code 0 and advertises its capabilities', async () => {
    t = await startBroker({ receiveMaximum: 50, topicAliasMaximum: 7 });
    const c = await t.client({ protocolVersion: 5, clientId: 'v5' });
    expect(connackOf(c).reasonCode).toBe(0);
    expect(connackOf(c).sessionPresent).toBe(false);
    expect(connackOf(c).properties).toMatchObject({
      receiveMaximum: 50,
      topicAliasMaximum: 7,
      sharedSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
    });
  });

  it('[MQTT-3.2.2-21] 5.0: a broker keepalive cap is announced as Server Keep Alive', async () => {
    t = await startBroker({ maxKeepAlive: 30 });
    const c = await t.client({ protocolVersion: 5, keepalive: 120 });
    expect(connackOf(c).properties?.serverKeepAlive).toBe(30);
    const within = await t.client({ protocolVersion: 5, keepalive: 20 });
    expect(connackOf(within).properties?.serverKeepAlive).toBeUndefined();
  });

  it('5.0: a Session Expiry Interval above the broker maximum is capped and announced in CONNACK', async () => {
    t = await startBroker({ maxSessionExpiryInterval: 10 });
    const c = await t.client({ protocolVersion: 5, clientId: 'capped', clean: false, properties: { sessionExpiryInterval: 3600 } });
    expect(connackOf(c).properties?.sessionExpiryInterval).toBe(10);
    const asked = await t.client({ protocolVersion: 5, clientId: 'uncapped', clean: false, properties: { sessionExpiryInterval: 5 } });
    expect(connackOf(asked).properties?.sessionExpiryInterval).toBeUndefined();
  });

  it('[MQTT-3.2.2-16] 5.0: an empty client id gets an Assigned Client Identifier', async () => {
    t = await startBroker();
    const c = await t.client({ protocolVersion: 5, clientId: '' });
    const assigned = connackOf(c).properties?.assignedClientIdentifier;
    expect(assigned).toMatch(/^midge-/);
    expect(t.broker.sessionCount).toBe(1);
  });
});

describe('session present flag', () => {
  it('[MQTT-3.2.2-1] [MQTT-3.2.2-2] 3.1.1: false for a clean session, true when resuming clean=false', async () => {
    t = await startBroker();
    const first = await t.client({ protocolVersion: 4, clientId: 'sp4', clean: false });
    expect(connackOf(first).sessionPresent).toBe(false); // no session existed yet
    await first.endAsync();
    await clientsDown();

    const resumed = await t.client({ protocolVersion: 4, clientId: 'sp4', clean: false });
    expect(connackOf(resumed).sessionPresent).toBe(true);
    await resumed.endAsync();
    await clientsDown();

    const clean = await t.client({ protocolVersion: 4, clientId: 'sp4', clean: true });
    expect(connackOf(clean).sessionPresent).toBe(false);
    await clean.endAsync();
    await clientsDown();

    // the clean session discarded the old one and was itself discarded at disconnect
    const again = await t.client({ protocolVersion: 4, clientId: 'sp4', clean: false });
    expect(connackOf(again).sessionPresent).toBe(false);
  });

  it('[MQTT-3.2.2-2] [MQTT-3.2.2-3] 5.0: true only when resuming with clean=false and a Session Expiry Interval', async () => {
    t = await startBroker();
    const opts = { protocolVersion: 5 as const, clientId: 'sp5', clean: false, properties: { sessionExpiryInterval: 60 } };
    const first = await t.client(opts);
    expect(connackOf(first).sessionPresent).toBe(false);
    await first.endAsync();
    await clientsDown();

    const resumed = await t.client(opts);
    expect(connackOf(resumed).sessionPresent).toBe(true);
    await resumed.endAsync();
    await clientsDown();

    const cleanStart = await t.client({ ...opts, clean: true });
    expect(connackOf(cleanStart).sessionPresent).toBe(false);
  });

  it('5.0: clean=false without a Session Expiry Interval does not keep the session', async () => {
    t = await startBroker();
    const first = await t.client({ protocolVersion: 5, clientId: 'sp5-zero', clean: false });
    await first.endAsync();
    await clientsDown();
    expect(t.broker.sessionCount).toBe(0);
    const second = await t.client({ protocolVersion: 5, clientId: 'sp5-zero', clean: false });
    expect(connackOf(second).sessionPresent).toBe(false);
  });
});

describe('session takeover', () => {
  it('[MQTT-3.1.4-2] 3.1.1: a second client with the same id disconnects the first', async () => {
    t = await startBroker();
    const first = await t.client({ protocolVersion: 4, clientId: 'same' });
    const firstClosed = closed(first);
    const second = await t.client({ protocolVersion: 4, clientId: 'same' });
    await firstClosed;
    expect(second.connected).toBe(true);
    expect(t.broker.clientCount).toBe(1);
    // the new connection owns the id and gets the traffic
    const got = collect(second);
    await second.subscribeAsync('takeover/t');
    await second.publishAsync('takeover/t', 'mine');
    await got.waitFor(1);
    expect(got.messages.map((m) => m.payload)).toEqual(['mine']);
  });

  it('[MQTT-3.1.4-3] 5.0: the first client gets DISCONNECT 0x8E (session taken over)', async () => {
    t = await startBroker();
    const first = await t.client({ protocolVersion: 5, clientId: 'same5' });
    const disconnect = nextDisconnect(first);
    const firstClosed = closed(first);
    const second = await t.client({ protocolVersion: 5, clientId: 'same5' });
    expect((await disconnect).reasonCode).toBe(0x8e);
    await firstClosed;
    expect(second.connected).toBe(true);
    expect(t.broker.clientCount).toBe(1);
  });

  it('a takeover with clean=false keeps the subscriptions of the session', async () => {
    t = await startBroker();
    const opts = { protocolVersion: 5 as const, clientId: 'keep', clean: false, properties: { sessionExpiryInterval: 60 } };
    const first = await t.client(opts);
    await first.subscribeAsync('keep/t', { qos: 1 });
    const firstClosed = closed(first);
    const second = t.open(opts);
    const got = collect(second);
    const connack = await connected(second);
    await firstClosed;
    expect(connack.sessionPresent).toBe(true);
    const pub = await t.client({ protocolVersion: 4 });
    await pub.publishAsync('keep/t', 'still subscribed', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0]?.payload).toBe('still subscribed');
  });
});
