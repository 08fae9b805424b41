import type { IPublishPacket, Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, connected, sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

let t: TestBroker;
const raws: Wire[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  await t?.close();
});

const v5 = { protocolVersion: 5 } as const;

describe('MQTT 5 message properties', () => {
  it('[MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] are forwarded unaltered', async () => {
    t = await startBroker();
    const sub = await t.client(v5);
    const got = collect(sub);
    await sub.subscribeAsync('props/t', { qos: 1 });
    const pub = await t.client(v5);
    const properties = {
      payloadFormatIndicator: true,
      contentType: 'application/json',
      responseTopic: 'props/reply',
      correlationData: Buffer.from([0, 1, 2, 0xff]),
      userProperties: { a: '1', multi: ['x', 'y'] },
    };
    await pub.publishAsync('props/t', '{"ok":true}', { qos: 1, properties });
    await got.waitFor(1);
    const p = got.messages[0]?.packet.properties;
    expect(p?.payloadFormatIndicator).toBe(true);
    expect(p?.contentType).toBe('application/json');
    expect(p?.responseTopic).toBe('props/reply');
    expect(Buffer.compare(p?.correlationData as Buffer, properties.correlationData)).toBe(0);
    expect(p?.userProperties).toEqual({ a: '1', multi: ['x', 'y'] });
    expect(p?.messageExpiryInterval).toBeUndefined();
  });

  it('request/response: a responder answers on the Response Topic with the Correlation Data', async () => {
    t = await startBroker();
    const responder = await t.client(v5);
    await responder.subscribeAsync('svc/req', { qos: 1 });
    const answered: Promise<unknown>[] = [];
    responder.on('message', (_topic, payload, packet) => {
      const { responseTopic, correlationData } = packet.properties ?? {};
      if (!responseTopic) return;
      answered.push(responder.publishAsync(responseTopic, `echo ${payload.toString()}`, { qos: 1, properties: { correlationData } }));
    });
    const requester = await t.client(v5);
    const got = collect(requester);
    await requester.subscribeAsync('svc/resp/me', { qos: 1 });
    await requester.publishAsync('svc/req', 'ping', {
      qos: 1,
      properties: { responseTopic: 'svc/resp/me', correlationData: Buffer.from('req-1') },
    });
    await got.waitFor(1);
    expect(got.messages[0]?.payload).toBe('echo ping');
    expect(got.messages[0]?.packet.properties?.correlationData?.toString()).toBe('req-1');
    await Promise.all(answered);
  });

  it('properties are dropped for a 3.1.1 subscriber and the message still arrives', async () => {
    t = await startBroker();
    const sub = await t.client({ protocolVersion: 4 });
    const got = collect(sub);
    await sub.subscribeAsync('props/old', { qos: 1 });
    const pub = await t.client(v5);
    await pub.publishAsync('props/old', 'x', { qos: 1, properties: { userProperties: { k: 'v' }, contentType: 'text/plain' } });
    await got.waitFor(1);
    expect(got.messages[0]?.payload).toBe('x');
    expect(got.messages[0]?.packet.properties).toBeUndefined();
  });
});

describe('MQTT 5 message expiry', () => {
  async function offlineSubscriber(clientId: string) {
    const opts = { ...v5, clientId, clean: false, properties: { sessionExpiryInterval: 60 } };
    const sub = await t.client(opts);
    await sub.subscribeAsync('exp/#', { qos: 1 });
    await sub.endAsync();
    await until(() => t.broker.clientCount === 0, 'the subscriber to be offline');
    return opts;
  }

  it('[MQTT-3.3.2-5] a queued message whose expiry passed is not delivered and is counted as expired', async () => {
    t = await startBroker();
    const opts = await offlineSubscriber('exp-sub');
    const pub = await t.client(v5);
    await pub.publishAsync('exp/short', 'stale', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('exp/long', 'fresh', { qos: 1, properties: { messageExpiryInterval: 60 } });
    await pub.publishAsync('exp/none', 'forever', { qos: 1 });
    await sleep(1200);
    const back = t.open(opts);
    const got = collect(back);
    await connected(back);
    await got.waitFor(2);
    await sleep(100);
    expect(got.messages.map((m) => m.payload)).toEqual(['fresh', 'forever']);
    expect(t.broker.stats.dropped.expired).toBe(1);
  });

  it('[MQTT-3.3.2-6] the forwarded Message Expiry Interval is the time left', async () => {
    t = await startBroker();
    const opts = await offlineSubscriber('exp-left');
    const pub = await t.client(v5);
    await pub.publishAsync('exp/x', 'aging', { qos: 1, properties: { messageExpiryInterval: 10 } });
    await sleep(2100);
    const back = t.open(opts);
    const got = collect(back);
    await connected(back);
    await got.waitFor(1);
    const left = got.messages[0]?.packet.properties?.messageExpiryInterval as number;
    expect(left).toBeGreaterThanOrEqual(7);
    expect(left).toBeLessThanOrEqual(8);
  });

  it('a message delivered at once keeps its full expiry interval', async () => {
    t = await startBroker();
    const sub = await t.client(v5);
    const got = collect(sub);
    await sub.subscribeAsync('exp/now', { qos: 0 });
    const pub = await t.client(v5);
    await pub.publishAsync('exp/now', 'x', { qos: 0, properties: { messageExpiryInterval: 30 } });
    await got.waitFor(1);
    expect(got.messages[0]?.packet.properties?.messageExpiryInterval).toBe(30);
  });

  it('[MQTT-3.3.2-5] an expired retained message is not sent to a new subscriber', async () => {
    t = await startBroker();
    const pub = await t.client(v5);
    await pub.publishAsync('exp/ret', 'short-lived', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    await sleep(1100);
    const sub = await t.client(v5);
    const got = collect(sub);
    await sub.subscribeAsync('exp/ret', { qos: 1 });
    await sleep(150);
    expect(got.messages).toEqual([]);
    expect(t.broker.retainedCount).toBe(0);
  });
});

describe('MQTT 5 Maximum Packet Size from the client', () => {
  it.each([0, 1] as const)('[MQTT-3.1.2-24] [MQTT-3.1.2-25] a QoS %i message larger than the client allows is not sent (and counted)', async (qos) => {
    t = await startBroker();
    const sub = await t.client({ ...v5, properties: { maximumPacketSize: 256 } });
    const got = collect(sub);
    await sub.subscribeAsync('big/#', { qos: 1 });
    const pub = await t.client(v5);
    await pub.publishAsync('big/a', 'small before', { qos });
    await pub.publishAsync('big/b', 'x'.repeat(1000), { qos });
    await pub.publishAsync('big/c', 'small after', { qos });
    await got.waitFor(2);
    await sleep(100);
    expect(got.messages.map((m) => m.payload)).toEqual(['small before', 'small after']);
    expect(t.broker.stats.dropped['packet-too-large']).toBe(1);
    expect(sub.connected).toBe(true);
  });

  it('a message just under the limit is sent', async () => {
    t = await startBroker();
    const sub = await t.client({ ...v5, properties: { maximumPacketSize: 200 } });
    const got = collect(sub);
    await sub.subscribeAsync('fit', { qos: 0 });
    const pub = await t.client(v5);
    // 1 byte type + 2 bytes remaining length + topic 2+3 + property length 1 = 9 bytes of overhead at QoS 0
    await pub.publishAsync('fit', 'y'.repeat(191), { qos: 0 }); // exactly 200 bytes
    await pub.publishAsync('fit', 'y'.repeat(192), { qos: 0 }); // 201 bytes
    await pub.publishAsync('fit', 'end', { qos: 0 });
    await got.waitFor(2);
    await sleep(100);
    expect(got.messages.map((m) => m.payload.length)).toEqual([191, 3]);
  });
});

describe('MQTT 5 Maximum Packet Size on session resume', () => {
  it('[MQTT-3.1.2-25] an unacknowledged message too large for the resumed connection is discarded, not kept in flight', async () => {
    t = await startBroker();
    const session = { clientId: 'shrinking', clean: false, properties: { sessionExpiryInterval: 60, receiveMaximum: 1 } };
    const first = await Wire.open(t.port, 5);
    raws.push(first);
    await first.handshake(session);
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'shrink', qos: 1 }] } as Packet);
    await first.next('suback');
    const pub = await t.client(v5);
    await pub.publishAsync('shrink', 'z'.repeat(1000), { qos: 1 });
    await first.next('publish'); // in flight, never acknowledged
    first.close();
    await until(() => t.broker.clientCount === 1, 'the first connection to close');
    await pub.publishAsync('shrink', 'small', { qos: 1 });

    // the client comes back allowing only small packets, with a window of one
    const second = await Wire.open(t.port, 5);
    raws.push(second);
    await second.handshake({ ...session, properties: { ...session.properties, maximumPacketSize: 256 } });
    const next = (await second.next('publish')) as IPublishPacket;
    expect(next.payload.toString()).toBe('small');
    expect(t.broker.stats.dropped['packet-too-large']).toBe(1);
  });
});

describe('MQTT 5 subscription options', () => {
  it('[MQTT-3.3.4-3] a Subscription Identifier is sent with the messages matching that subscription', async () => {
    t = await startBroker();
    const sub = await t.client(v5);
    const got = collect(sub);
    await sub.subscribeAsync('sid/a', { qos: 1, properties: { subscriptionIdentifier: 42 } });
    await sub.subscribeAsync('sid/b', { qos: 1 });
    const pub = await t.client(v5);
    await pub.publishAsync('sid/a', 'with id', { qos: 1 });
    await pub.publishAsync('sid/b', 'without id', { qos: 1 });
    await got.waitFor(2);
    expect(got.messages[0]?.packet.properties?.subscriptionIdentifier).toBe(42);
    expect(got.messages[1]?.packet.properties?.subscriptionIdentifier).toBeUndefined();
  });

  it('[MQTT-3.3.4-3] overlapping subscriptions: one delivery at the highest QoS carrying both identifiers', async () => {
    t = await startBroker();
    const sub = await t.client(v5);
    const got = collect(sub);
    await sub.subscribeAsync('ov/+', { qos: 1, properties: { subscriptionIdentifier: 1 } });
    await sub.subscribeAsync('ov/#', { qos: 2, properties: { subscriptionIdentifier: 2 } });
    const pub = await t.client(v5);
    await pub.publishAsync('ov/x', 'both', { qos: 2 });
    await got.waitFor(1);
    await sleep(100);
    expect(got.messages).toHaveLength(1);
    expect(got.messages[0]?.packet.qos).toBe(2);
    const ids = got.messages[0]?.packet.properties?.subscriptionIdentifier;
    expect(Array.isArray(ids) ? [...ids].sort() : ids).toEqual([1, 2]);
  });

  it('[MQTT-3.3.4-3] one SUBSCRIBE with two overlapping filters and one identifier: the delivery carries that identifier once', async () => {
    t = await startBroker();
    const sub = await t.client(v5);
    const got = collect(sub);
    await sub.subscribeAsync({ 'one/+': { qos: 1 }, 'one/#': { qos: 1 } }, { properties: { subscriptionIdentifier: 2333 } });
    // The same identifier from two SUBSCRIBE packets, and beside another identifier
    await sub.subscribeAsync('two/+/c', { qos: 0, properties: { subscriptionIdentifier: 7 } });
    await sub.subscribeAsync('two/#', { qos: 0, properties: { subscriptionIdentifier: 7 } });
    await sub.subscribeAsync('two/b/+', { qos: 0, properties: { subscriptionIdentifier: 8 } });
    const pub = await t.client(v5);
    await pub.publishAsync('one/x', 'once', { qos: 1 });
    await pub.publishAsync('two/b/c', 'seven and eight', { qos: 1 });
    await got.waitFor(2);
    await sleep(100);
    expect(got.messages).toHaveLength(2);
    expect(got.messages[0]?.packet.properties?.subscriptionIdentifier).toBe(2333);
    const ids = got.messages[1]?.packet.properties?.subscriptionIdentifier;
    expect(Array.isArray(ids) ? [...ids].sort() : ids).toEqual([7, 8]);
  });

  it('[MQTT-3.8.3-3] No Local: the client does not get its own publications on that subscription', async () => {
    t = await startBroker();
    const self = await t.client({ ...v5, clientId: 'self' });
    const got = collect(self);
    await self.subscribeAsync('nl/quiet', { qos: 1, nl: true });
    await self.subscribeAsync('nl/loud', { qos: 1, nl: false });
    await self.publishAsync('nl/quiet', 'own quiet', { qos: 1 });
    await self.publishAsync('nl/loud', 'own loud', { qos: 1 });
    const other = await t.client(v5);
    await other.publishAsync('nl/quiet', 'other quiet', { qos: 1 });
    await got.waitFor(2);
    await sleep(100);
    expect(got.messages.map((m) => m.payload)).toEqual(['own loud', 'other quiet']);
  });

  it('[MQTT-3.8.3-4] No Local on a shared subscription is a protocol error', async () => {
    t = await startBroker();
    const c = await t.client(v5);
    const disconnect = new Promise<Packet>((resolve) => c.once('disconnect', resolve));
    c.subscribe('$share/g/nl', { qos: 0, nl: true }, () => undefined); // no SUBACK comes: the broker disconnects
    const packet = (await disconnect) as { reasonCode?: number };
    expect(packet.reasonCode).toBe(0x82);
  });
});

describe('MQTT 5 acknowledgements and aliases', () => {
  it('PUBACK carries 0x10 (No matching subscribers) when nobody is subscribed', async () => {
    t = await startBroker();
    const pub = await t.client(v5);
    const acks: Packet[] = [];
    pub.on('packetreceive', (p) => {
      if (p.cmd === 'puback') acks.push(p);
    });
    await pub.publishAsync('nobody/home', 'x', { qos: 1 });
    const sub = await t.client(v5);
    await sub.subscribeAsync('somebody/home', { qos: 1 });
    await pub.publishAsync('somebody/home', 'x', { qos: 1 });
    expect(acks.map((a) => (a as { reasonCode?: number }).reasonCode ?? 0)).toEqual([0x10, 0]);
  });

  it('[MQTT-3.3.2-12] an inbound Topic Alias maps later publications with an empty topic', async () => {
    t = await startBroker();
    const sub = await t.client(v5);
    const got = collect(sub);
    await sub.subscribeAsync('alias/long/topic/name', { qos: 1 });
    const pub = await t.client(v5);
    const sent: IPublishPacket[] = [];
    pub.on('packetsend', (p) => {
      if (p.cmd === 'publish') sent.push(p);
    });
    await pub.publishAsync('alias/long/topic/name', 'first', { qos: 1, properties: { topicAlias: 3 } });
    await pub.publishAsync('', 'second', { qos: 1, properties: { topicAlias: 3 } });
    await got.waitFor(2);
    expect(sent[1]?.topic).toBe(''); // mqtt.js sent the alias alone
    expect(got.messages.map((m) => [m.topic, m.payload])).toEqual([
      ['alias/long/topic/name', 'first'],
      ['alias/long/topic/name', 'second'],
    ]);
  });
});
