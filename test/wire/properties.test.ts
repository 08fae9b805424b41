import type { Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { RawClient } from '../helpers/raw.js';
import { expectDisconnect, Wire } from './wire.js';

/** A malformed CONNECT: MQTT 5 allows a CONNACK 0x81 before closing, and nothing else. */
async function expectRefused(c: RawClient): Promise<void> {
  await c.waitClosed();
  for (const p of c.packets) expect(p).toMatchObject({ cmd: 'connack', reasonCode: 0x81 });
}

const w = new Wire();
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
