/** A negative PUBACK or PUBREC from an MQTT 5 client: the message counts as refused, not delivered. */
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { Drop } from '../../src/index.js';
import { until } from '../helpers/broker.js';
import type { Wire } from '../helpers/wire.js';
import { WireHarness } from './harness.js';

const w = new WireHarness();
afterEach(() => w.cleanup());

async function subscribe(c: Wire, topic: string, qos: 0 | 1 | 2): Promise<void> {
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] } as Packet);
  await c.next('suback');
}

describe('a negative acknowledgement from a 5.0 client', () => {
  it.each([
    ['PUBACK', 1],
    ['PUBREC', 2],
  ] as const)('%s with reason code 0x80 counts the message as dropped (refused), not delivered', async (ack, qos) => {
    const drops: Drop[] = [];
    const tb = await w.start({ plugins: [{ onDropped: (d) => drops.push(d) }] });
    const { c } = await w.connected(5, { clientId: 'refuser' });
    await subscribe(c, 'ref/#', qos);
    const pub = await tb.client({ protocolVersion: 4 });
    await pub.publishAsync('ref/1', 'unwanted', { qos });
    const delivery = (await c.next('publish')) as IPublishPacket;
    c.send({ cmd: ack === 'PUBACK' ? 'puback' : 'pubrec', messageId: delivery.messageId, reasonCode: 0x80 } as Packet);
    await until(() => tb.broker.stats.dropped.refused === 1, 'the refused drop to be counted');
    expect(tb.broker.stats.messagesSent).toBe(0);
    expect(drops).toEqual([expect.objectContaining({ clientId: 'refuser', reason: 'refused' })]);
    expect(drops[0]?.message.topic).toBe('ref/1');
    // the window slot is free again: the next message is delivered
    await pub.publishAsync('ref/2', 'wanted', { qos });
    expect(((await c.next('publish')) as IPublishPacket).payload.toString()).toBe('wanted');
  });
});
