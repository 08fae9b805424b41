import { afterEach, describe, expect, it } from 'vitest';
import { connackOf, startBroker, type TestBroker } from '../helpers/broker.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

describe('MQTT 5 capabilities advertised in CONNACK', () => {
  it('Receive Maximum, Maximum Packet Size, Topic Alias Maximum and every feature flag', async () => {
    tb = await startBroker({ receiveMaximum: 50, maxPacketSize: 65536, topicAliasMaximum: 20 });
    const c = await tb.client({ protocolVersion: 5 });
    expect(connackOf(c).properties).toMatchObject({
      receiveMaximum: 50,
      maximumPacketSize: 65536,
      topicAliasMaximum: 20,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
    });
  });
});

describe('Session Expiry Interval 0xFFFFFFFF', () => {
  it('[MQTT-3.1.2-23] the session never expires: it is still there after the client has gone', async () => {
    tb = await startBroker();
    const c = await tb.client({ protocolVersion: 5, clientId: 'forever', clean: false, properties: { sessionExpiryInterval: 0xffffffff } });
    await c.subscribeAsync('forever/#', { qos: 1 });
    await c.endAsync();
    await new Promise((r) => setTimeout(r, 1200));
    const pub = await tb.client({ protocolVersion: 5 });
    await pub.publishAsync('forever/1', 'kept', { qos: 1 });
    const back = tb.open({ protocolVersion: 5, clientId: 'forever', clean: false, properties: { sessionExpiryInterval: 0xffffffff } });
    const message = new Promise<string>((r) => back.once('message', (_t, p) => r(p.toString())));
    await new Promise<void>((r) => back.once('connect', () => r()));
    expect(connackOf(back).sessionPresent).toBe(true);
    expect(await message).toBe('kept');
  });
});
