/** The client's Receive Maximum on session resume: raw frames, so DUP flags and packet ids are checked. */
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, until } from '../helpers/broker.js';
import type { Wire } from '../helpers/wire.js';
import { WireHarness } from './harness.js';

const w = new WireHarness();
afterEach(() => w.cleanup());

function publishes(c: Wire): IPublishPacket[] {
  return c.packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
}

async function subscribe(c: Wire, topic: string, qos: 0 | 1 | 2): Promise<void> {
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] } as Packet);
  await c.next('suback');
}

describe('a smaller Receive Maximum on resume [MQTT-3.3.4-9]', () => {
  it('6 unacknowledged QoS 1 messages, reconnect with Receive Maximum 2: 2 resent with DUP=1, the rest follow as acks arrive, in order, none lost', async () => {
    const tb = await w.start();
    const session = { clientId: 'shrink', clean: false, properties: { sessionExpiryInterval: 60, receiveMaximum: 10 } };
    const { c: first } = await w.connected(5, session);
    await subscribe(first, 'rm/#', 1);
    const pub = await tb.client({ protocolVersion: 4 });
    const payloads = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'];
    for (const p of payloads) await pub.publishAsync('rm/t', p, { qos: 1 });
    await until(() => publishes(first).length === 6, 'six deliveries to the first connection');
    const originalIds = new Map(publishes(first).map((p) => [p.payload.toString(), p.messageId]));
    first.close(); // no PUBACK for any of them
    await until(() => tb.broker.clientCount === 1, 'the first connection to be gone');

    const { c: back } = await w.connected(5, { ...session, properties: { sessionExpiryInterval: 60, receiveMaximum: 2 } });
    const unacked: IPublishPacket[] = [(await back.next('publish')) as IPublishPacket, (await back.next('publish')) as IPublishPacket];
    await sleep(300);
    expect(publishes(back)).toEqual([]); // nothing beyond the new Receive Maximum
    expect(unacked.map((p) => [p.payload.toString(), p.dup])).toEqual([
      ['m1', true],
      ['m2', true],
    ]);

    const order: string[] = unacked.map((p) => p.payload.toString());
    const resent: IPublishPacket[] = [...unacked];
    for (let i = 0; i < payloads.length; i++) {
      const oldest = unacked.shift() as IPublishPacket;
      back.send({ cmd: 'puback', messageId: oldest.messageId, reasonCode: 0 } as Packet);
      if (order.length < payloads.length) {
        const next = (await back.next('publish')) as IPublishPacket;
        unacked.push(next);
        resent.push(next);
        order.push(next.payload.toString());
        expect(unacked.length).toBeLessThanOrEqual(2);
      }
    }
    // [MQTT-4.4.0-1] every one of them might have been received: all resent with DUP=1 and the original packet id
    expect(resent.map((p) => [p.payload.toString(), p.dup, p.messageId])).toEqual(payloads.map((p) => [p, true, originalIds.get(p)]));
    await sleep(200);
    expect(order).toEqual(payloads);
    expect(publishes(back)).toEqual([]); // no duplicates after the last ack
  });
});
