import type { Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { collect } from '../helpers/broker.js';
import type { Wire } from '../helpers/wire.js';
import { Prop, connectFrame, frame, props, publishFrame, str, u16, will5 } from '../helpers/frames.js';
import { WireHarness, expectConnackRefusal, expectDisconnect } from './harness.js';

/** A malformed CONNECT: MQTT 5 allows a CONNACK 0x81 before closing, and nothing else. */
async function expectRefused(c: Wire): Promise<void> {
  await c.waitClosed();
  for (const p of c.packets) expect(p).toMatchObject({ cmd: 'connack', reasonCode: 0x81 });
}

const w = new WireHarness();
afterEach(() => w.cleanup());

/** Packets a client sends, each with a property its type does not carry (MQTT 5 section 2.2.2.2). */
const misplaced: Array<[string, Record<string, unknown>]> = [
  ['PUBLISH with Session Expiry Interval', { cmd: 'publish', topic: 'a', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { sessionExpiryInterval: 5 } }],
  ['PUBLISH with Reason String', { cmd: 'publish', topic: 'a', payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false, properties: { reasonString: 'no' } }],
  ['PUBACK with Content Type', { cmd: 'puback', messageId: 1, reasonCode: 0, properties: { contentType: 'text/plain' } }],
  ['PUBREL with Topic Alias', { cmd: 'pubrel', messageId: 1, reasonCode: 0, properties: { topicAlias: 1 } }],
  ['SUBSCRIBE with Topic Alias', { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }], properties: { topicAlias: 3 } }],
  ['UNSUBSCRIBE with Subscription Identifier', { cmd: 'unsubscribe', messageId: 1, unsubscriptions: ['a'], properties: { subscriptionIdentifier: 4 } }],
  ['DISCONNECT with Receive Maximum', { cmd: 'disconnect', reasonCode: 0, properties: { receiveMaximum: 10 } }],
];

describe('MQTT 5: a property on a packet type that does not carry it is a Malformed Packet', () => {
  it.each(misplaced)('%s gets DISCONNECT 0x81, then close', async (_name, packet) => {
    await w.start();
    const { c } = await w.connected(5);
    c.send(packet as unknown as Packet);
    await expectDisconnect(c, 0x81);
  });

  it('CONNECT with Topic Alias is refused: closed, with at most a CONNACK 0x81', async () => {
    await w.start();
    const c = await w.raw(5);
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'p', clean: true, keepalive: 0, properties: { topicAlias: 1 } } as unknown as Packet);
    await expectRefused(c);
  });

  it('a Will with Session Expiry Interval is refused: closed, with at most a CONNACK 0x81', async () => {
    await w.start();
    const c = await w.raw(5);
    c.send({
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'p', clean: true, keepalive: 0,
      will: { topic: 'w', payload: Buffer.from('x'), qos: 0, retain: false, properties: { sessionExpiryInterval: 3 } },
    } as unknown as Packet);
    await expectRefused(c);
  });
});

/** A property that may appear once, given twice; the first value is 0 or empty where it can be (mqtt-packet let those through). */
const twice = (p: Buffer) => props(p, p);

describe('§2.2.2.2 a property other than User Property given twice is a Protocol Error', () => {
  const inConnect: [string, Buffer][] = [
    ['Session Expiry Interval 0', Prop.sessionExpiry(0)],
    ['Receive Maximum', Prop.receiveMaximum(10)],
    ['Maximum Packet Size', Prop.maximumPacketSize(1000)],
    ['Topic Alias Maximum 0', Prop.topicAliasMaximum(0)],
    ['Request Response Information 0', Prop.requestResponseInformation(0)],
    ['Request Problem Information 0', Prop.requestProblemInformation(0)],
    ['Authentication Method ""', Prop.authenticationMethod('')],
  ];

  it.each(inConnect)('CONNECT with %s twice: CONNACK 0x82, then close', async (_name, property) => {
    await w.start();
    const c = await w.raw(5);
    c.write(connectFrame({ level: 5, properties: twice(property) }));
    await expectConnackRefusal(c, 0x82, 5);
  });

  const inWill: [string, Buffer][] = [
    ['Will Delay Interval 0', Prop.willDelay(0)],
    ['Payload Format Indicator 0', Prop.payloadFormatIndicator(0)],
    ['Message Expiry Interval 0', Prop.messageExpiry(0)],
    ['Content Type ""', Prop.contentType('')],
    ['Response Topic', Prop.responseTopic('reply')],
    ['Correlation Data (empty)', Prop.correlationData('')],
  ];

  it.each(inWill)('a will with %s twice: CONNACK 0x82, then close', async (_name, property) => {
    await w.start();
    const c = await w.raw(5);
    c.write(connectFrame({ level: 5, flags: 0x02 | 0x04, rest: will5(twice(property)) }));
    await expectConnackRefusal(c, 0x82, 5);
  });

  const inPublish: [string, Buffer][] = [
    ['Payload Format Indicator 0', Prop.payloadFormatIndicator(0)],
    ['Message Expiry Interval 0', Prop.messageExpiry(0)],
    ['Content Type ""', Prop.contentType('')],
    ['Response Topic', Prop.responseTopic('reply')],
    ['Correlation Data (empty)', Prop.correlationData('')],
    ['Topic Alias', Prop.topicAlias(1)],
  ];

  for (const qos of [0, 1, 2]) {
    it.each(inPublish)(`a QoS ${qos} PUBLISH with %s twice: DISCONNECT 0x82; the message is not routed`, async (_name, property) => {
      const tb = await w.start();
      const sub = await tb.client({ protocolVersion: 5 });
      const got = collect(sub);
      await sub.subscribeAsync('dup/#');
      const { c } = await w.connected(5);
      c.write(publishFrame({ topic: 'dup/t', qos, id: qos > 0 ? 1 : undefined, properties: twice(property), payload: 'twice' }));
      await expectDisconnect(c, 0x82);
      await sub.publishAsync('dup/t', 'sentinel');
      await got.waitFor(1);
      expect(got.messages.map((m) => m.payload)).toEqual(['sentinel']);
    });
  }

  const acks: [string, number][] = [['PUBACK', 0x40], ['PUBREC', 0x50], ['PUBREL', 0x62], ['PUBCOMP', 0x70]];
  it.each(acks)('%s with Reason String "" twice: DISCONNECT 0x82', async (_name, first) => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(frame(first, u16(1), [0x00], twice(Prop.reasonString(''))));
    await expectDisconnect(c, 0x82);
  });

  it('SUBSCRIBE with Subscription Identifier 1 twice: DISCONNECT 0x82, and nothing is subscribed', async () => {
    const tb = await w.start();
    const { c } = await w.connected(5, { clientId: 'dup-sub' });
    c.write(frame(0x82, u16(1), twice(Prop.subscriptionIdentifier(1)), str('dup/t'), [0x00]));
    await expectDisconnect(c, 0x82);
    expect(tb.broker.session('dup-sub')?.subscriptions ?? 0).toBe(0);
  });

  it.each([
    ['Session Expiry Interval 0', Prop.sessionExpiry(0)],
    ['Reason String ""', Prop.reasonString('')],
  ])('DISCONNECT with %s twice: DISCONNECT 0x82 from the server, and the will is published', async (_name, property) => {
    const tb = await w.start();
    const watcher = await tb.client({ protocolVersion: 5 });
    const wills = collect(watcher);
    await watcher.subscribeAsync('wire/will');
    const { c } = await w.connected(5, { will: { topic: 'wire/will', payload: Buffer.from('gone'), qos: 0, retain: false } });
    c.write(frame(0xe0, [0x00], twice(property)));
    await expectDisconnect(c, 0x82);
    await wills.waitFor(1);
    expect(wills.messages.map((m) => m.payload)).toEqual(['gone']);
  });

  it('User Property may repeat, name and all, on UNSUBSCRIBE as on any packet', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(frame(0xa2, u16(5), props(Prop.userProperty('k', ''), Prop.userProperty('k', '')), str('a')));
    expect(await c.next('unsuback')).toMatchObject({ messageId: 5 });
  });
});

describe('§3.3.2.3.2 Payload Format Indicator other than 0 or 1', () => {
  for (const qos of [0, 1, 2]) {
    it(`a QoS ${qos} PUBLISH with Payload Format Indicator 2 is a Protocol Error: DISCONNECT 0x82; the message is not routed`, async () => {
      const tb = await w.start();
      const sub = await tb.client({ protocolVersion: 5 });
      const got = collect(sub);
      await sub.subscribeAsync('pfi/#');
      const { c } = await w.connected(5);
      c.write(publishFrame({ topic: 'pfi/t', qos, id: qos > 0 ? 1 : undefined, properties: props(Prop.payloadFormatIndicator(2)), payload: 'x' }));
      await expectDisconnect(c, 0x82);
      await sub.publishAsync('pfi/t', 'sentinel');
      await got.waitFor(1);
      expect(got.messages.map((m) => m.payload)).toEqual(['sentinel']);
    });
  }

  it('[MQTT-3.3.2-4] 0 and 1 are forwarded unaltered', async () => {
    const tb = await w.start();
    const sub = await tb.client({ protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('pfi/#');
    const { c } = await w.connected(5);
    for (const n of [0, 1]) c.write(publishFrame({ topic: `pfi/${n}`, properties: props(Prop.payloadFormatIndicator(n)), payload: 'text' }));
    await got.waitFor(2);
    expect(got.messages.map((m) => [m.topic, m.packet.properties?.payloadFormatIndicator])).toEqual([['pfi/0', false], ['pfi/1', true]]);
  });
});
