/**
 * The log bridge in cluster mode holds a QoS 1/2 acknowledgement for the message's JetStream log
 * appends and the client's earlier ones (order). A message no rule captures must not inherit an
 * earlier message's log-append failure: it waits for it, for the order, and is then acknowledged.
 * Real nats-server, an in-process node, a raw MQTT 5 publisher. Slow by nature: a log append fails
 * only after its 60 s retry deadline (src/cluster/appender.ts).
 */
import { describe, expect, it } from 'vitest';
import type { IPubackPacket, Packet } from 'mqtt-packet';
import { hasNats, useNats } from '../helpers/cluster.js';
import type { BrokerOptions } from '../../src/index.js';

const env = useNats('cluster log hold tests');

describe.skipIf(!hasNats)('cluster log: acknowledgement holds (real nats-server)', () => {
  it('a message the log does not capture is acknowledged although an earlier logged message of the same client failed its log append', async () => {
    const prefix = env.prefix('lh');
    const node = await env.node(prefix, 'n1', {
      ...env.options(prefix, 'n1'),
      bridge: { streams: { ev: { maxBytes: 1_000_000, maxAgeSeconds: 3600 } }, rules: [{ filter: 'ev/#', stream: 'ev', qos: [1, 2] }] },
    } as BrokerOptions);
    const nc = await env.connect();
    try {
      // The log stream goes away: appends to it get no answer from JetStream and fail after their deadline
      await (await nc.jetstreamManager()).streams.delete(`${prefix.toUpperCase()}_LOG_ev`);
    } finally {
      await nc.close();
    }
    const pub = await env.wire(node, 5);
    await pub.connect('lh-pub');
    pub.send({ cmd: 'publish', topic: 'ev/logged', payload: Buffer.from('one'), qos: 1, retain: false, dup: false, messageId: 1 } as Packet);
    pub.send({ cmd: 'publish', topic: 'plain/not-logged', payload: Buffer.from('two'), qos: 1, retain: false, dup: false, messageId: 2 } as Packet);
    const first = (await pub.next('puback', 90_000)) as IPubackPacket;
    const second = (await pub.next('puback', 10_000)) as IPubackPacket;
    expect(first.messageId).toBe(1);
    expect(first.reasonCode, 'the logged message is refused: its log append failed').toBe(0x80);
    expect(second.messageId, 'acknowledgements keep their order').toBe(2);
    expect(second.reasonCode ?? 0, 'the message the log does not capture is acknowledged').toBe(0);
  }, 120_000);
});
