import { afterEach, describe, expect, it } from 'vitest';
import type { IConnackPacket, IDisconnectPacket, Packet } from 'mqtt-packet';
import { collect } from '../helpers/broker.js';
import { Prop, connectFrame, frame, props, publishFrame, str, u16, will5 } from '../helpers/frames.js';
import { WireHarness, expectClosedSilently, expectConnackRefusal, expectDisconnect } from './harness.js';

const w = new WireHarness();
afterEach(() => w.cleanup());

describe('packets before CONNECT', () => {
  const early: [string, Buffer][] = [
    ['PUBLISH', publishFrame({ topic: 'wire/early', payload: 'early' })],
    ['SUBSCRIBE', frame(0x82, u16(1), str('wire/#'), [0])],
    ['PINGREQ', Buffer.from([0xc0, 0x00])],
  ];
  it.each(early)('[MQTT-3.1.0-1] a %s before CONNECT closes the connection without a response', async (_name, bytes) => {
    const tb = await w.start();
    const sub = await tb.client();
    const got = collect(sub);
    await sub.subscribeAsync('wire/early');
    const c = await w.raw();
    c.write(bytes);
    await expectClosedSilently(c);
    // Nothing from the refused connection was routed: the sentinel is the first message to arrive.
    const pub = await tb.client();
    await pub.publishAsync('wire/early', 'sentinel');
    await got.waitFor(1);
    expect(got.messages.map((m) => m.payload)).toEqual(['sentinel']);
  });

  it('[MQTT-3.1.0-1] an MQTT 5 PUBLISH before CONNECT closes the connection without a DISCONNECT', async () => {
    await w.start();
    const c = await w.raw(5);
    c.write(publishFrame({ topic: 'wire/early', properties: props(), payload: 'x' }));
    await expectClosedSilently(c);
  });
});

describe('a second CONNECT', () => {
  it('[MQTT-3.1.0-2] 3.1.1: closes the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'again', clean: true, keepalive: 0 });
    await expectClosedSilently(c);
  });

  it('[MQTT-3.1.0-2] 5.0: DISCONNECT 0x82 (Protocol Error), then close', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'again', clean: true, keepalive: 0 });
    await expectDisconnect(c, 0x82);
  });
});

describe('protocol name and level', () => {
  it('[MQTT-3.1.2-2] protocol level 6: CONNACK 0x01 (unacceptable protocol version), then close', async () => {
    await w.start();
    const c = await w.raw(4);
    c.write(connectFrame({ level: 6 }));
    await expectConnackRefusal(c, 0x01);
  });

  it('[MQTT-3.1.2-2] protocol level 2: CONNACK 0x01, then close', async () => {
    await w.start();
    const c = await w.raw(4);
    c.write(connectFrame({ level: 2 }));
    await expectConnackRefusal(c, 0x01);
  });

  it('[MQTT-3.1.2-1] a protocol name that is not "MQTT" closes the connection without accepting it', async () => {
    await w.start();
    const c = await w.raw(4);
    c.write(connectFrame({ protocolName: 'MQTX' }));
    await c.waitClosed();
    // The server may refuse with CONNACK 0x01 first, but must never accept.
    for (const p of c.packets) expect(p).toMatchObject({ cmd: 'connack', returnCode: 1 });
  });

  it('[MQTT-3.1.2-1] the 3.1 name "MQIsdp" with level 4 is refused with CONNACK 0x01', async () => {
    await w.start();
    const c = await w.raw(4);
    c.write(connectFrame({ protocolName: 'MQIsdp', level: 4 }));
    await expectConnackRefusal(c, 0x01);
  });

  it('[MQTT-3.1.2-1] 5.0 with the name "MQIsdp" is refused with CONNACK 0x84', async () => {
    await w.start();
    const c = await w.raw(5);
    c.write(connectFrame({ protocolName: 'MQIsdp', level: 5 }));
    await expectConnackRefusal(c, 0x84, 5);
  });

  it('3.1 ("MQIsdp", level 3) is accepted', async () => {
    await w.start();
    await w.connected(3);
  });
});

describe('CONNECT flags', () => {
  it('[MQTT-3.1.2-3] reserved flag bit 0 set closes the connection (3.1.1)', async () => {
    await w.start();
    const c = await w.raw(4);
    c.write(connectFrame({ flags: 0x03 }));
    await expectClosedSilently(c);
  });

  it('[MQTT-3.1.2-3] reserved flag bit 0 set closes the connection (5.0)', async () => {
    await w.start();
    const c = await w.raw(5);
    c.write(connectFrame({ level: 5, flags: 0x03 }));
    await c.waitClosed();
    // MQTT 5 allows a CONNACK 0x81 before closing; nothing else.
    for (const p of c.packets) expect(p).toMatchObject({ cmd: 'connack', reasonCode: 0x81 });
  });

  it('[MQTT-3.1.2-13] Will QoS set without the Will Flag closes the connection', async () => {
    await w.start();
    const c = await w.raw(4);
    c.write(connectFrame({ flags: 0x02 | 0x08 }));
    await expectClosedSilently(c);
  });

  it('[MQTT-3.1.2-15] Will Retain set without the Will Flag closes the connection', async () => {
    await w.start();
    const c = await w.raw(4);
    c.write(connectFrame({ flags: 0x02 | 0x20 }));
    await expectClosedSilently(c);
  });

  it('[MQTT-3.1.2-14] Will QoS 3 closes the connection', async () => {
    await w.start();
    const c = await w.raw(4);
    // Will Flag + Will QoS 3 + clean session; will topic and payload follow the client id
    c.write(connectFrame({ flags: 0x02 | 0x04 | 0x18, rest: Buffer.concat([str('wire/will'), str('bye')]) }));
    await c.waitClosed();
    expect(c.packets.filter((p) => (p as IConnackPacket).returnCode === 0)).toEqual([]);
  });

  it('[MQTT-3.1.2-22] 3.1.1: a Password Flag without the User Name Flag closes the connection', async () => {
    await w.start();
    const c = await w.raw(4);
    c.write(connectFrame({ flags: 0x02 | 0x40, rest: str('secret') }));
    await c.waitClosed();
    expect(c.packets.filter((p) => (p as IConnackPacket).returnCode === 0)).toEqual([]);
  });

  it('5.0 allows a password without a user name', async () => {
    await w.start();
    const c = await w.raw(5);
    c.write(connectFrame({ level: 5, flags: 0x02 | 0x40, rest: str('secret') }));
    expect(await c.next('connack')).toMatchObject({ reasonCode: 0 });
  });
});

describe('bytes after the last field of a CONNECT', () => {
  // Where the CONNECT's fields end depends on its flags: after the client id, the will payload or the password
  const endings: [string, number, Buffer][] = [
    ['the client id', 0x02, Buffer.alloc(0)],
    ['the will payload', 0x02 | 0x04, Buffer.concat([str('wire/will'), str('bye')])],
    ['the password', 0x02 | 0x80 | 0x40, Buffer.concat([str('user'), str('secret')])],
  ];

  it.each(endings)('[MQTT-3.1.4-1] 3.1.1: trailing bytes after %s close the connection without a CONNACK', async (_last, flags, rest) => {
    await w.start();
    const c = await w.raw(4);
    c.write(connectFrame({ flags, rest: Buffer.concat([rest, Buffer.from([0x00, 0x01, 0x02])]) }));
    await expectClosedSilently(c);
    expect(w.tb?.broker.sessionCount).toBe(0);
  });

  it.each(endings)('[MQTT-3.1.4-1] 5.0: trailing bytes after %s get CONNACK 0x81 (Malformed Packet), then close', async (_last, flags, rest) => {
    await w.start();
    const c = await w.raw(5);
    // MQTT 5 puts a (here empty) property block before the will topic
    const v5rest = flags & 0x04 ? Buffer.concat([props(), rest]) : rest;
    c.write(connectFrame({ level: 5, flags, rest: Buffer.concat([v5rest, Buffer.from([0x00])]) }));
    await expectConnackRefusal(c, 0x81, 5);
    expect(w.tb?.broker.sessionCount).toBe(0);
  });

  it('3.1: trailing bytes after the client id close the connection without a CONNACK', async () => {
    await w.start();
    const c = await w.raw(3);
    c.write(connectFrame({ protocolName: 'MQIsdp', level: 3, rest: Buffer.from([0x00]) }));
    await expectClosedSilently(c);
  });

  it('the same CONNECT without the trailing bytes is accepted (the frames above differ only by them)', async () => {
    await w.start();
    for (const [version, flags, rest] of [[4, 0x02 | 0x04, Buffer.concat([str('wire/will'), str('bye')])], [5, 0x02 | 0x04, Buffer.concat([props(), str('wire/will'), str('bye')])]] as const) {
      const c = await w.raw(version);
      c.write(connectFrame({ level: version, flags, rest }));
      expect(await c.next('connack')).toMatchObject(version === 5 ? { reasonCode: 0 } : { returnCode: 0 });
    }
  });
});

describe('MQTT 5 CONNECT properties', () => {
  const receiveMaximum = (n: number) => Buffer.concat([Buffer.from([0x21]), u16(n)]);
  const maximumPacketSize = (n: number) => Buffer.from([0x27, 0, 0, 0, n]);

  it('§3.1.2.11.3 Receive Maximum 0 is a Protocol Error: CONNACK 0x82, then close', async () => {
    await w.start();
    const c = await w.raw(5);
    c.write(connectFrame({ level: 5, properties: props(receiveMaximum(0)) }));
    await expectConnackRefusal(c, 0x82, 5);
  });

  it('§3.1.2.11.4 Maximum Packet Size 0 is a Protocol Error: CONNACK 0x82, then close', async () => {
    await w.start();
    const c = await w.raw(5);
    c.write(connectFrame({ level: 5, properties: props(maximumPacketSize(0)) }));
    await expectConnackRefusal(c, 0x82, 5);
  });

  // Byte properties are flags: "a Protocol Error to have a value other than 0 or 1"
  const outOfRange: [string, Buffer, Buffer | undefined][] = [
    ['§3.1.2.11.7 Request Problem Information 2', props(Prop.requestProblemInformation(2)), undefined],
    ['§3.1.2.11.7 Request Problem Information 255', props(Prop.requestProblemInformation(255)), undefined],
    ['§3.1.2.11.6 Request Response Information 2', props(Prop.requestResponseInformation(2)), undefined],
    ['§3.1.3.2.3 a will Payload Format Indicator 2', props(), props(Prop.payloadFormatIndicator(2))],
    ['[MQTT-3.3.2-14] a will Response Topic with a wildcard', props(), props(Prop.responseTopic('reply/+'))],
  ];

  it.each(outOfRange)('%s is a Protocol Error: CONNACK 0x82, then close; no session, no will', async (_name, properties, willProperties) => {
    const tb = await w.start();
    const watcher = await tb.client({ protocolVersion: 5 });
    const wills = collect(watcher);
    await watcher.subscribeAsync('wire/will');
    const c = await w.raw(5);
    const flags = willProperties ? 0x02 | 0x04 : 0x02;
    c.write(connectFrame({ level: 5, flags, properties, rest: willProperties ? will5(willProperties) : undefined }));
    await expectConnackRefusal(c, 0x82, 5);
    expect(tb.broker.sessionCount).toBe(1); // the watcher's
    await watcher.publishAsync('wire/will', 'sentinel');
    await wills.waitFor(1);
    expect(wills.messages.map((m) => m.payload)).toEqual(['sentinel']);
  });

  it('the flags at 0 and 1 are accepted (the boundary of the ranges above)', async () => {
    await w.start();
    for (const n of [0, 1]) {
      const c = await w.raw(5);
      const properties = props(Prop.requestProblemInformation(n), Prop.requestResponseInformation(n));
      c.write(connectFrame({ level: 5, clientId: `flags-${n}`, flags: 0x06, properties, rest: will5(props(Prop.payloadFormatIndicator(n), Prop.responseTopic('reply/x'))) }));
      expect(await c.next('connack')).toMatchObject({ reasonCode: 0 });
    }
  });

  it('§2.2.2.2 a property given twice is a Protocol Error: the connection is refused', async () => {
    await w.start();
    const c = await w.raw(5);
    c.write(connectFrame({ level: 5, properties: props(receiveMaximum(10), receiveMaximum(20)) }));
    await c.waitClosed();
    for (const p of c.packets) expect(p).toMatchObject({ cmd: 'connack', reasonCode: 0x82 });
  });
});

describe('client identifier', () => {
  it('[MQTT-3.1.3-8] 3.1.1: an empty client id with CleanSession=0 gets CONNACK 0x02, then close', async () => {
    await w.start();
    const c = await w.raw(4);
    c.write(connectFrame({ clientId: '', flags: 0x00 }));
    await expectConnackRefusal(c, 0x02);
  });

  it('[MQTT-3.1.3-6] [MQTT-3.1.3-7] 3.1.1: an empty client id with CleanSession=1 is accepted', async () => {
    await w.start();
    const { c, connack } = await w.connected(4, { clientId: '', clean: true });
    expect(connack).toMatchObject({ returnCode: 0, sessionPresent: false });
    c.send({ cmd: 'pingreq' });
    await c.next('pingresp');
  });

  it('[MQTT-3.2.2-16] 5.0: an empty client id is accepted and the CONNACK carries an Assigned Client Identifier', async () => {
    await w.start();
    const a = (await w.connected(5, { clientId: '' })).connack as IConnackPacket;
    const b = (await w.connected(5, { clientId: '' })).connack as IConnackPacket;
    const idA = a.properties?.assignedClientIdentifier;
    const idB = b.properties?.assignedClientIdentifier;
    expect(idA).toMatch(/.+/);
    expect(idB).toMatch(/.+/);
    expect(idA).not.toBe(idB);
  });

  it('5.0: a client that supplied an id gets no Assigned Client Identifier', async () => {
    await w.start();
    const { connack } = await w.connected(5, { clientId: 'has-an-id' });
    expect((connack as IConnackPacket).properties?.assignedClientIdentifier).toBeUndefined();
  });

  it('3.1 ("MQIsdp"): an empty client id gets CONNACK 0x02, then close', async () => {
    await w.start();
    const c = await w.raw(3);
    c.write(connectFrame({ protocolName: 'MQIsdp', level: 3, clientId: '' }));
    await expectConnackRefusal(c, 0x02);
  });

  it('[MQTT-1.5.3-1] a client id with ill-formed UTF-8 closes the connection', async () => {
    await w.start();
    const c = await w.raw(4);
    c.write(connectFrame({ clientId: Buffer.from([0x61, 0xc3, 0x28]) }));
    await c.waitClosed();
    expect(c.packets.filter((p) => (p as IConnackPacket).returnCode === 0)).toEqual([]);
  });
});

describe('MQTT 5 enhanced authentication (not offered)', () => {
  it('[MQTT-4.12.0-1] a CONNECT with an Authentication Method gets CONNACK 0x8C, then close', async () => {
    await w.start();
    const c = await w.raw(5);
    c.write(connectFrame({ level: 5, properties: props(Prop.authenticationMethod('SCRAM-SHA-1')) }));
    await expectConnackRefusal(c, 0x8c, 5);
  });

  it('[MQTT-4.12.0-7] an AUTH packet after a CONNECT without Authentication Method: DISCONNECT 0x82, then close', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-1' } } as Packet);
    await expectDisconnect(c, 0x82);
  });

  it('an AUTH packet in 3.1.1 closes the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(frame(0xf0, [0x00], props()));
    await expectClosedSilently(c);
  });
});

describe('DISCONNECT from the client (5.0)', () => {
  it('§3.14.2.2.2 raising the Session Expiry Interval from 0 at DISCONNECT: DISCONNECT 0x82 from the server', async () => {
    await w.start();
    const { c } = await w.connected(5, { properties: { sessionExpiryInterval: 0 } });
    c.write(frame(0xe0, [0x00], props(Prop.sessionExpiry(60))));
    await expectDisconnect(c, 0x82);
  });

  it('a normal DISCONNECT closes without a reply, and an expiry set at CONNECT may be changed', async () => {
    await w.start();
    const { c } = await w.connected(5, { properties: { sessionExpiryInterval: 30 } });
    c.write(frame(0xe0, [0x00], props(Prop.sessionExpiry(60))));
    await expectClosedSilently(c);
  });

  it('an invalid DISCONNECT reason code closes with DISCONNECT 0x81', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(frame(0xe0, [0x03], props()));
    await c.waitClosed();
    for (const p of c.packets) expect(p).toMatchObject({ cmd: 'disconnect', reasonCode: 0x81 } satisfies Partial<IDisconnectPacket>);
  });
});

describe('[MQTT-3.1.4-1] a CONNECT that does not conform', () => {
  it.each([
    [3, 'a/+'],
    [4, 'a/+'],
    [4, '#'],
  ])('level %i: a will topic %j is closed without any CONNACK', async (level, topic) => {
    await w.start();
    const c = await w.raw(level);
    c.send({
      cmd: 'connect',
      protocolId: level === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: level,
      clientId: 'bad-will',
      clean: true,
      keepalive: 0,
      will: { topic, payload: Buffer.from('x'), qos: 0, retain: false },
    } as Packet);
    await expectClosedSilently(c);
    expect(w.tb?.broker.sessionCount).toBe(0);
  });

  it('5.0: a will topic with a wildcard gets CONNACK 0x90 (Topic Name invalid), then close', async () => {
    await w.start();
    const c = await w.raw(5);
    c.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clientId: 'bad-will5',
      clean: true,
      keepalive: 0,
      will: { topic: 'a/+', payload: Buffer.from('x'), qos: 0, retain: false },
    } as Packet);
    await expectConnackRefusal(c, 0x90, 5);
    expect(w.tb?.broker.sessionCount).toBe(0);
  });
});
