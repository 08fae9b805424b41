import { afterEach, describe, expect, it, vi } from 'vitest';
import type { IConnackPacket, Packet } from 'mqtt-packet';
import { collect } from '../helpers/broker.js';
import { Prop, frame, props, publishFrame, str, u16 } from '../helpers/frames.js';
import { WireHarness, expectClosedSilently, expectDisconnect } from './harness.js';

const w = new WireHarness();
afterEach(() => w.cleanup());

/** Topic bytes that are not well-formed UTF-8 [MQTT-1.5.3-1] (5.0: [MQTT-1.5.4-1]). */
const illFormed: [string, Buffer][] = [
  ['a bad continuation byte', Buffer.from([0x61, 0xc3, 0x28])],
  ['an overlong encoding of "/"', Buffer.from([0x61, 0xc0, 0xaf])],
  ['a UTF-16 surrogate (U+D800)', Buffer.from([0x61, 0xed, 0xa0, 0x80])],
  ['a 0xFF byte', Buffer.from([0x61, 0xff])],
  ['a truncated sequence', Buffer.from([0x61, 0xe2, 0x82])],
];

describe('topic names', () => {
  it.each(illFormed)('[MQTT-1.5.3-1] 3.1.1: a topic with %s closes the connection', async (_name, topic) => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(publishFrame({ topic, payload: 'x' }));
    await expectClosedSilently(c);
  });

  it.each(illFormed)('[MQTT-1.5.4-1] 5.0: a topic with %s gets DISCONNECT 0x81, then close', async (_name, topic) => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic, properties: props(), payload: 'x' }));
    await expectDisconnect(c, 0x81);
  });

  it('[MQTT-1.5.3-2] 3.1.1: U+0000 in a topic closes the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(publishFrame({ topic: Buffer.from('a\u0000b'), payload: 'x' }));
    await expectClosedSilently(c);
  });

  it('[MQTT-1.5.4-2] 5.0: U+0000 in a topic gets DISCONNECT 0x81, then close', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: Buffer.from('a\u0000b'), properties: props(), payload: 'x' }));
    await expectDisconnect(c, 0x81);
  });

  it('a topic with valid multi-byte UTF-8 is routed unchanged', async () => {
    const tb = await w.start();
    const sub = await tb.client();
    const got = collect(sub);
    await sub.subscribeAsync('température/€/😀');
    const { c } = await w.connected(4);
    c.write(publishFrame({ topic: 'température/€/😀', payload: 'ok' }));
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'température/€/😀', payload: 'ok' });
  });

  it('a binary payload (not UTF-8) is routed byte for byte', async () => {
    const tb = await w.start();
    const sub = await tb.client();
    const received: Buffer[] = [];
    sub.on('message', (_topic, payload) => received.push(payload));
    await sub.subscribeAsync('bin');
    const { c } = await w.connected(4);
    const payload = Buffer.from([0x00, 0xff, 0xc3, 0x28, 0x00]);
    c.write(publishFrame({ topic: 'bin', payload }));
    await vi.waitFor(() => expect(received).toHaveLength(1));
    expect(received[0]?.equals(payload)).toBe(true);
  });

  const wildcards = ['a/+/b', 'a/#', '#', '+', 'a+b', 'a#'];
  it.each(wildcards)('[MQTT-3.3.2-2] 3.1.1: a PUBLISH to "%s" closes the connection', async (topic) => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(publishFrame({ topic, payload: 'x' }));
    await expectClosedSilently(c);
  });

  it.each(wildcards)('[MQTT-3.3.2-2] 5.0: a PUBLISH to "%s" gets DISCONNECT 0x90, then close', async (topic) => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic, properties: props(), payload: 'x' }));
    await expectDisconnect(c, 0x90);
  });

  it('[MQTT-4.7.3-1] 3.1.1: an empty topic closes the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(publishFrame({ topic: '', payload: 'x' }));
    await expectClosedSilently(c);
  });

  it('§3.3.2.1 5.0: an empty topic without a Topic Alias is a Protocol Error: DISCONNECT 0x82', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: '', properties: props(), payload: 'x' }));
    // Fails while src/handlers/publish.ts (resolveTopic) answers 0x90 Topic Name invalid instead.
    await expectDisconnect(c, 0x82);
  });
});

describe('PUBLISH fixed header and packet identifier', () => {
  it('[MQTT-3.3.1-4] 3.1.1: QoS 3 closes the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(frame(0x36, str('a/b'), u16(1), 'x'));
    await expectClosedSilently(c);
  });

  it('[MQTT-3.3.1-4] 5.0: QoS 3 gets DISCONNECT 0x81, then close', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(frame(0x36, str('a/b'), u16(1), props(), 'x'));
    await expectDisconnect(c, 0x81);
  });

  it('[MQTT-2.3.1-1] 3.1.1: packet identifier 0 on a QoS 1 PUBLISH closes the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(publishFrame({ topic: 'a/b', qos: 1, id: 0, payload: 'x' }));
    await expectClosedSilently(c);
  });

  it('[MQTT-2.2.1-3] 5.0: packet identifier 0 on a QoS 2 PUBLISH gets DISCONNECT (0x81 or 0x82), then close', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: 'a/b', qos: 2, id: 0, properties: props(), payload: 'x' }));
    await expectDisconnect(c, [0x81, 0x82]);
  });

  it('[MQTT-3.3.1-2] 3.1.1: DUP=1 on a QoS 0 PUBLISH closes the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(publishFrame({ topic: 'a/b', dup: true, payload: 'x' }));
    await expectClosedSilently(c);
  });

  it('[MQTT-3.3.1-2] 5.0: DUP=1 on a QoS 0 PUBLISH gets DISCONNECT (0x81 or 0x82), then close', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: 'a/b', dup: true, properties: props(), payload: 'x' }));
    await expectDisconnect(c, [0x81, 0x82]);
  });

  it('3.1.1: a QoS 1 PUBLISH too short to hold its packet identifier closes the connection', async () => {
    const tb = await w.start();
    const sub = await tb.client();
    const got = collect(sub);
    await sub.subscribeAsync('a');
    const { c } = await w.connected(4);
    c.write(frame(0x32, str('a'))); // remaining length 3: topic only, no packet identifier
    await expectClosedSilently(c);
    const pub = await tb.client();
    await pub.publishAsync('a', 'sentinel');
    await got.waitFor(1);
    expect(got.messages.map((m) => m.payload)).toEqual(['sentinel']);
  });

  it('3.1.1: a packet identifier is never read from the next packet in the stream', async () => {
    await w.start();
    const { c } = await w.connected(4);
    // QoS 1 PUBLISH with remaining length 3 (topic only), then a PINGREQ in the same segment
    c.write(Buffer.concat([frame(0x32, str('a')), Buffer.from([0xc0, 0x00])]));
    await expectClosedSilently(c);
  });

  it('5.0: a property block longer than the Remaining Length gets DISCONNECT 0x81', async () => {
    await w.start();
    const { c } = await w.connected(5);
    // Property Length 3 announces a Topic Alias, but the packet ends after the length byte
    c.write(Buffer.concat([frame(0x30, str('a/b'), [0x03]), frame(0x30, str('a/b'), [0x00], 'next')]));
    await expectDisconnect(c, 0x81);
  });

  it('3.1.1: a QoS 1 PUBLISH gets PUBACK with its packet identifier', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(publishFrame({ topic: 'a/b', qos: 1, id: 513, payload: 'x' }));
    expect(await c.next('puback')).toMatchObject({ messageId: 513 });
  });

  it('5.0: a QoS 1 PUBLISH nobody subscribed to gets PUBACK 0x10 (No matching subscribers)', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: 'a/b', qos: 1, id: 9, properties: props(), payload: 'x' }));
    expect(await c.next('puback')).toMatchObject({ messageId: 9, reasonCode: 0x10 });
  });
});

describe('MQTT 5 PUBLISH properties', () => {
  const userProperty = (name: Buffer | string, value: Buffer | string) => Buffer.concat([Buffer.from([0x26]), str(name), str(value)]);
  const contentType = (value: Buffer | string) => Buffer.concat([Buffer.from([0x03]), str(value)]);
  const bad = Buffer.from([0x61, 0xc3, 0x28]);
  const cases: [string, Buffer][] = [
    ['a User Property value', userProperty('k', bad)],
    ['a User Property name', userProperty(bad, 'v')],
    ['a Content Type', contentType(bad)],
  ];

  it.each(cases)('[MQTT-1.5.4-1] ill-formed UTF-8 in %s: DISCONNECT 0x81; the message is neither routed nor retained', async (_name, property) => {
    const tb = await w.start();
    const early = await tb.client({ protocolVersion: 5 });
    const earlyGot = collect(early);
    await early.subscribeAsync('poison');
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: 'poison', retain: true, properties: props(property), payload: 'bad' }));
    await expectDisconnect(c, 0x81);
    // A later subscriber gets no retained copy, and both still work
    const late = await tb.client({ protocolVersion: 5 });
    const lateGot = collect(late);
    await late.subscribeAsync('poison');
    const pub = await tb.client({ protocolVersion: 5 });
    await pub.publishAsync('poison', 'sentinel');
    await earlyGot.waitFor(1);
    await lateGot.waitFor(1);
    expect(earlyGot.messages.map((m) => m.payload)).toEqual(['sentinel']);
    expect(lateGot.messages.map((m) => m.payload)).toEqual(['sentinel']);
  });

  it('a Response Topic with a wildcard: DISCONNECT 0x82 (or 0x90)', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: 'a', properties: props(Buffer.concat([Buffer.from([0x08]), str('reply/#')])), payload: 'x' }));
    await expectDisconnect(c, [0x82, 0x90]);
  });

  it('[MQTT-3.3.2-17] [MQTT-3.3.2-18] well-formed User Properties and Content Type are forwarded unaltered', async () => {
    const tb = await w.start();
    const sub = await tb.client({ protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('props');
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: 'props', properties: props(userProperty('k', 'é'), userProperty('k', '2'), contentType('text/plain')), payload: 'x' }));
    await got.waitFor(1);
    expect(got.messages[0]?.packet.properties).toMatchObject({ contentType: 'text/plain', userProperties: { k: ['é', '2'] } });
  });
});

describe('MQTT 5 topic aliases', () => {
  it('[MQTT-3.3.2-8] Topic Alias 0: DISCONNECT 0x94, then close', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: 'a/b', properties: props(Prop.topicAlias(0)), payload: 'x' }));
    await expectDisconnect(c, 0x94);
  });

  it('[MQTT-3.3.2-9] a Topic Alias above the advertised Topic Alias Maximum: DISCONNECT 0x94, then close', async () => {
    await w.start();
    const { c, connack } = await w.connected(5);
    const max = (connack as IConnackPacket).properties?.topicAliasMaximum;
    expect(max).toBeGreaterThan(0);
    c.write(publishFrame({ topic: 'a/b', properties: props(Prop.topicAlias((max as number) + 1)), payload: 'x' }));
    await expectDisconnect(c, 0x94);
  });

  it('[MQTT-3.3.2-9] with topicAliasMaximum 0 any Topic Alias gets DISCONNECT 0x94', async () => {
    await w.start({ topicAliasMaximum: 0 });
    const { c, connack } = await w.connected(5);
    expect((connack as IConnackPacket).properties?.topicAliasMaximum ?? 0).toBe(0);
    c.write(publishFrame({ topic: 'a/b', properties: props(Prop.topicAlias(1)), payload: 'x' }));
    await expectDisconnect(c, 0x94);
  });

  it('an unknown Topic Alias with an empty topic: DISCONNECT 0x82, then close', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: '', properties: props(Prop.topicAlias(3)), payload: 'x' }));
    await expectDisconnect(c, 0x82);
  });

  it('a Topic Alias mapping works, can be replaced, and stays within its connection [MQTT-3.3.2-7]', async () => {
    const tb = await w.start();
    const sub = await tb.client();
    const got = collect(sub);
    await sub.subscribeAsync('alias/#');
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: 'alias/one', properties: props(Prop.topicAlias(1)), payload: '1' }));
    c.write(publishFrame({ topic: '', properties: props(Prop.topicAlias(1)), payload: '2' }));
    c.write(publishFrame({ topic: 'alias/two', properties: props(Prop.topicAlias(1)), payload: '3' }));
    c.write(publishFrame({ topic: '', properties: props(Prop.topicAlias(1)), payload: '4' }));
    await got.waitFor(4);
    expect(got.messages.map((m) => `${m.topic}=${m.payload}`)).toEqual(['alias/one=1', 'alias/one=2', 'alias/two=3', 'alias/two=4']);
    // Subscribers never see the sender's alias
    for (const m of got.messages) expect(m.packet.properties?.topicAlias).toBeUndefined();
    // Another connection does not share the mapping
    const { c: other } = await w.connected(5);
    other.write(publishFrame({ topic: '', properties: props(Prop.topicAlias(1)), payload: 'x' }));
    await expectDisconnect(other, 0x82);
  });
});

describe('MQTT 5 Receive Maximum (inbound QoS 2)', () => {
  it('[MQTT-3.3.4-7] a third unreleased QoS 2 PUBLISH with receiveMaximum 2: DISCONNECT 0x93, then close', async () => {
    await w.start({ receiveMaximum: 2 });
    const { c, connack } = await w.connected(5);
    expect((connack as IConnackPacket).properties?.receiveMaximum).toBe(2);
    for (const id of [1, 2]) {
      c.write(publishFrame({ topic: 'a/b', qos: 2, id, properties: props(), payload: 'x' }));
      expect(await c.next('pubrec')).toMatchObject({ messageId: id });
    }
    c.write(publishFrame({ topic: 'a/b', qos: 2, id: 3, properties: props(), payload: 'x' }));
    await expectDisconnect(c, 0x93);
  });

  it('a PUBREL frees a slot: the next QoS 2 PUBLISH is accepted', async () => {
    await w.start({ receiveMaximum: 2 });
    const { c } = await w.connected(5);
    for (const id of [1, 2]) {
      c.write(publishFrame({ topic: 'a/b', qos: 2, id, properties: props(), payload: 'x' }));
      await c.next('pubrec');
    }
    c.send({ cmd: 'pubrel', messageId: 1 });
    expect(await c.next('pubcomp')).toMatchObject({ messageId: 1, reasonCode: 0 });
    c.write(publishFrame({ topic: 'a/b', qos: 2, id: 3, properties: props(), payload: 'x' }));
    expect(await c.next('pubrec')).toMatchObject({ messageId: 3 });
    expect(c.isClosed).toBe(false);
  });
});

describe('inbound QoS 2 exactly once', () => {
  for (const version of [4, 5] as const) {
    const v = version === 5 ? '5.0' : '3.1.1';
    const body = (dup: boolean, payload: string) =>
      publishFrame({ topic: 'qos2/t', qos: 2, id: 7, dup, properties: version === 5 ? props() : undefined, payload });

    it(`[MQTT-4.3.3-2] ${v}: a resend before PUBREL gets PUBREC again but is delivered once; PUBREL gets PUBCOMP`, async () => {
      const tb = await w.start();
      const sub = await tb.client({ protocolVersion: version });
      const got = collect(sub);
      await sub.subscribeAsync('qos2/t', { qos: 2 });
      const { c } = await w.connected(version);
      c.write(body(false, 'once'));
      expect(await c.next('pubrec')).toMatchObject({ messageId: 7 });
      c.write(body(true, 'once'));
      expect(await c.next('pubrec')).toMatchObject({ messageId: 7 });
      c.send({ cmd: 'pubrel', messageId: 7 });
      const pubcomp = await c.next('pubcomp');
      expect(pubcomp).toMatchObject({ messageId: 7 });
      if (version === 5) expect(pubcomp).toMatchObject({ reasonCode: 0 });
      // A QoS 0 sentinel from the same connection arrives after anything the PUBLISHes caused.
      c.write(publishFrame({ topic: 'qos2/t', properties: version === 5 ? props() : undefined, payload: 'sentinel' }));
      await got.waitFor(2);
      expect(got.messages.map((m) => m.payload)).toEqual(['once', 'sentinel']);
    });

    it(`${v}: after PUBREL the packet identifier starts a new message`, async () => {
      const tb = await w.start();
      const sub = await tb.client({ protocolVersion: version });
      const got = collect(sub);
      await sub.subscribeAsync('qos2/t', { qos: 2 });
      const { c } = await w.connected(version);
      c.write(body(false, 'first'));
      await c.next('pubrec');
      c.send({ cmd: 'pubrel', messageId: 7 });
      await c.next('pubcomp');
      c.write(body(false, 'second'));
      await c.next('pubrec');
      await got.waitFor(2);
      expect(got.messages.map((m) => m.payload)).toEqual(['first', 'second']);
    });
  }

  it('3.1.1: an unreleased QoS 2 identifier survives a reconnect with CleanSession=0: the resend is not delivered again', async () => {
    const tb = await w.start();
    const sub = await tb.client();
    const got = collect(sub);
    await sub.subscribeAsync('qos2/t', { qos: 2 });
    const first = (await w.connected(4, { clientId: 'wire-q2', clean: false })).c;
    first.write(publishFrame({ topic: 'qos2/t', qos: 2, id: 7, payload: 'once' }));
    await first.next('pubrec');
    first.close(); // connection lost before PUBREL
    await first.waitClosed();
    const { c, connack } = await w.connected(4, { clientId: 'wire-q2', clean: false });
    expect(connack).toMatchObject({ sessionPresent: true });
    c.write(publishFrame({ topic: 'qos2/t', qos: 2, id: 7, dup: true, payload: 'once' }));
    expect(await c.next('pubrec')).toMatchObject({ messageId: 7 });
    c.send({ cmd: 'pubrel', messageId: 7 });
    await c.next('pubcomp');
    c.write(publishFrame({ topic: 'qos2/t', payload: 'sentinel' }));
    await got.waitFor(2);
    expect(got.messages.map((m) => m.payload)).toEqual(['once', 'sentinel']);
  });

  it('3.1.1: a PUBREL for an unknown packet identifier gets PUBCOMP', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.send({ cmd: 'pubrel', messageId: 42 });
    expect(await c.next('pubcomp')).toMatchObject({ messageId: 42 });
    expect(c.isClosed).toBe(false);
  });

  it('[MQTT-4.3.3-11] 5.0: a PUBREL for an unknown packet identifier gets PUBCOMP 0x92', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.send({ cmd: 'pubrel', messageId: 42 });
    expect(await c.next('pubcomp')).toMatchObject({ messageId: 42, reasonCode: 0x92 });
  });

  it('5.0: a second PUBREL for a released identifier gets PUBCOMP 0x92', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: 'a/b', qos: 2, id: 5, properties: props(), payload: 'x' }));
    await c.next('pubrec');
    c.send({ cmd: 'pubrel', messageId: 5 });
    expect(await c.next('pubcomp')).toMatchObject({ messageId: 5, reasonCode: 0 });
    c.send({ cmd: 'pubrel', messageId: 5 });
    expect(await c.next('pubcomp')).toMatchObject({ messageId: 5, reasonCode: 0x92 });
  });
});

describe('packets a server never receives', () => {
  const serverOnly: [string, Packet][] = [
    ['CONNACK', { cmd: 'connack', returnCode: 0, sessionPresent: false }],
    ['SUBACK', { cmd: 'suback', messageId: 1, granted: [0] }],
    ['UNSUBACK', { cmd: 'unsuback', messageId: 1, granted: [] }],
    ['PINGRESP', { cmd: 'pingresp' }],
  ];
  it.each(serverOnly)('3.1.1: a %s from a client closes the connection', async (_name, packet) => {
    await w.start();
    const { c } = await w.connected(4);
    c.send(packet);
    await expectClosedSilently(c);
  });

  it('5.0: a PINGRESP from a client gets DISCONNECT 0x82', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write([0xd0, 0x00]);
    await expectDisconnect(c, 0x82);
  });
});
