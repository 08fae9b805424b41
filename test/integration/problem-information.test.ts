import type { Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { Plugin, SubscriptionRequestInfo } from '../../src/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

let tb: TestBroker | undefined;
const raws: Wire[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  await tb?.close();
  tb = undefined;
});

const denyTopicB: Plugin = {
  authorizePublish: (_c, m) => !m.topic.startsWith('b/'),
  authorizeSubscribe: (_c, s) => !s.filter.startsWith('b/'),
};

async function client(t: TestBroker, properties: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<Wire> {
  const raw = await Wire.open(t.port, 5);
  raws.push(raw);
  expect(await raw.handshake({ properties, ...extra })).toMatchObject({ reasonCode: 0 });
  return raw;
}

type WithProps = Packet & { reasonCode?: number; granted?: number[]; properties?: { reasonString?: string; userProperties?: Record<string, unknown> } };

describe('Reason Strings on acknowledgements, honouring Request Problem Information', () => {
  it('[MQTT-3.1.2-29] a refused QoS 1 and QoS 2 publish carry a Reason String by default', async () => {
    tb = await startBroker({ plugins: [denyTopicB] });
    const raw = await client(tb);
    raw.send({ cmd: 'publish', topic: 'b/x', payload: Buffer.from('1'), qos: 1, messageId: 1, retain: false, dup: false } as Packet);
    raw.send({ cmd: 'publish', topic: 'b/x', payload: Buffer.from('2'), qos: 2, messageId: 2, retain: false, dup: false } as Packet);
    const puback = (await raw.next('puback')) as WithProps;
    const pubrec = (await raw.next('pubrec')) as WithProps;
    expect(puback).toMatchObject({ reasonCode: 0x87, properties: { reasonString: expect.stringContaining('not authorized') } });
    expect(pubrec).toMatchObject({ reasonCode: 0x87, properties: { reasonString: expect.stringContaining('not authorized') } });
  });

  it('[MQTT-3.1.2-29] with Request Problem Information 0 acknowledgements carry none, CONNACK and DISCONNECT still may', async () => {
    tb = await startBroker({ plugins: [denyTopicB] });
    const raw = await client(tb, { requestProblemInformation: false });
    raw.send({ cmd: 'publish', topic: 'b/x', payload: Buffer.from('1'), qos: 1, messageId: 1, retain: false, dup: false } as Packet);
    const puback = (await raw.next('puback')) as WithProps;
    expect(puback.reasonCode).toBe(0x87);
    expect(puback.properties?.reasonString).toBeUndefined();
    raw.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'b/#', qos: 0 }] } as Packet);
    const suback = (await raw.next('suback')) as WithProps;
    expect(suback.granted).toEqual([0x87]);
    expect(suback.properties?.reasonString).toBeUndefined();
    raw.send({ cmd: 'pubrel', messageId: 77, reasonCode: 0 } as Packet);
    const pubcomp = (await raw.next('pubcomp')) as WithProps;
    expect(pubcomp.reasonCode).toBe(0x92);
    expect(pubcomp.properties?.reasonString).toBeUndefined();
    // DISCONNECT for a protocol error still explains itself
    raw.send({ cmd: 'publish', topic: 'a/#', payload: Buffer.from('x'), qos: 0, retain: false, dup: false } as Packet);
    const disconnect = (await raw.next('disconnect')) as WithProps;
    expect(disconnect.reasonCode).toBe(0x90);
    expect(disconnect.properties?.reasonString).toBeTruthy();
  });

  it('SUBACK names the refused filters; the DISCONNECT for an invalid UNSUBSCRIBE filter names it', async () => {
    tb = await startBroker({ plugins: [denyTopicB] });
    const raw = await client(tb);
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#', qos: 1 }, { topic: 'b/#', qos: 1 }, { topic: 'a/#/b', qos: 0 }] } as Packet);
    const suback = (await raw.next('suback')) as WithProps;
    expect(suback.granted).toEqual([1, 0x87, 0x8f]);
    expect(suback.properties?.reasonString).toBe('filter 2: not authorized; filter 3: invalid topic filter');
    raw.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['a/#', 'x/+y'] } as Packet);
    const disconnect = (await raw.next('disconnect')) as WithProps;
    expect(disconnect.reasonCode).toBe(0x81);
    expect(disconnect.properties?.reasonString).toBe('malformed packet: UNSUBSCRIBE filter 2 is not a valid topic filter');
  });

  it('PUBREL and PUBCOMP 0x92 for an unknown packet id carry a Reason String', async () => {
    tb = await startBroker();
    const raw = await client(tb);
    raw.send({ cmd: 'pubrel', messageId: 9, reasonCode: 0 } as Packet);
    expect(await raw.next('pubcomp')).toMatchObject({ reasonCode: 0x92, properties: { reasonString: expect.any(String) } });
    raw.send({ cmd: 'pubrec', messageId: 10, reasonCode: 0 } as Packet);
    expect(await raw.next('pubrel')).toMatchObject({ reasonCode: 0x92, properties: { reasonString: expect.any(String) } });
  });

  it('[MQTT-3.4.2-2] a Reason String is left out when it would exceed the client Maximum Packet Size', async () => {
    tb = await startBroker({ plugins: [denyTopicB] });
    const raw = await client(tb, { maximumPacketSize: 24 });
    raw.send({ cmd: 'publish', topic: 'b/x', payload: Buffer.from('1'), qos: 1, messageId: 1, retain: false, dup: false } as Packet);
    const puback = (await raw.next('puback')) as WithProps;
    expect(puback.reasonCode).toBe(0x87);
    expect(puback.properties?.reasonString).toBeUndefined();
  });

  it('3.1.1 clients get plain acknowledgements', async () => {
    tb = await startBroker({ plugins: [denyTopicB] });
    const raw = await Wire.open(tb.port, 4);
    raws.push(raw);
    await raw.handshake();
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'b/#', qos: 1 }] } as Packet);
    expect(((await raw.next('suback')) as WithProps).granted).toEqual([0x80]);
  });
});

describe('User Properties on every packet that carries them', () => {
  const up = { origin: 'test', list: ['a', 'b'] };

  it('are accepted on CONNECT, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, UNSUBSCRIBE and DISCONNECT', async () => {
    const seen: SubscriptionRequestInfo[] = [];
    tb = await startBroker({ plugins: [{ authorizeSubscribe: (_c, s) => (seen.push(s), true) }] });
    const sub = await client(tb, { userProperties: up });
    const pub = await client(tb, { userProperties: up });
    sub.send({ cmd: 'subscribe', messageId: 1, properties: { userProperties: up }, subscriptions: [{ topic: 'u/#', qos: 2 }] } as Packet);
    await sub.next('suback');
    expect(seen[0]?.userProperties).toEqual(up); // plugins see SUBSCRIBE's User Properties
    // QoS 1 and QoS 2 in both directions, every acknowledgement with User Properties
    pub.send({ cmd: 'publish', topic: 'u/1', payload: Buffer.from('one'), qos: 1, messageId: 1, retain: false, dup: false, properties: { userProperties: up } } as Packet);
    await pub.next('puback');
    pub.send({ cmd: 'publish', topic: 'u/2', payload: Buffer.from('two'), qos: 2, messageId: 2, retain: false, dup: false, properties: { userProperties: up } } as Packet);
    await pub.next('pubrec');
    pub.send({ cmd: 'pubrel', messageId: 2, reasonCode: 0, properties: { userProperties: up } } as Packet);
    await pub.next('pubcomp');
    const first = (await sub.next('publish')) as WithProps & { messageId: number };
    expect(first.properties?.userProperties).toEqual(up); // [MQTT-3.3.2-17] forwarded unaltered, in order
    sub.send({ cmd: 'puback', messageId: first.messageId, reasonCode: 0, properties: { userProperties: up } } as Packet);
    const second = (await sub.next('publish')) as WithProps & { messageId: number };
    sub.send({ cmd: 'pubrec', messageId: second.messageId, reasonCode: 0, properties: { userProperties: up } } as Packet);
    await sub.next('pubrel');
    sub.send({ cmd: 'pubcomp', messageId: second.messageId, reasonCode: 0, properties: { userProperties: up } } as Packet);
    sub.send({ cmd: 'pingreq' });
    await sub.next('pingresp'); // every packet above was accepted: the connection is still up
    sub.send({ cmd: 'unsubscribe', messageId: 3, properties: { userProperties: up }, unsubscriptions: ['u/#'] } as Packet);
    expect(await sub.next('unsuback')).toMatchObject({ granted: [0] });
    sub.send({ cmd: 'disconnect', reasonCode: 0, properties: { userProperties: up } } as Packet);
    await sub.waitClosed();
  });

  it('a plugin can put User Properties on CONNACK and AUTH', async () => {
    const plugin: Plugin = {
      authenticate: (_c, cr) => (cr.method === 'X' ? { outcome: 'success', userProperties: { tenant: 'acme' } } : true),
    };
    tb = await startBroker({ plugins: [plugin] });
    const raw = await Wire.open(tb.port, 5);
    raws.push(raw);
    expect(await raw.handshake({ properties: { authenticationMethod: 'X' } })).toMatchObject({ reasonCode: 0, properties: { userProperties: { tenant: 'acme' } } });
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'X' } } as Packet);
    expect(await raw.next('auth')).toMatchObject({ reasonCode: 0, properties: { userProperties: { tenant: 'acme' } } });
  });
});

