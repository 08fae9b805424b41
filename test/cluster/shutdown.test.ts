/**
 * A clean shutdown of a cluster node with appends in flight: the publishers whose messages
 * JetStream stores still get their PUBACK before their connections close (the node waits, bounded
 * by the append timeout, for the outstanding acknowledgements). Real nats-server, paused with
 * SIGSTOP so that the appends are outstanding when the shutdown begins; an in-process node; a raw
 * MQTT 5 publisher.
 */
import { describe, expect, it } from 'vitest';
import type { IPubackPacket, Packet } from 'mqtt-packet';
import { hasNats, until, useNats } from '../helpers/cluster.js';

const env = useNats('cluster shutdown tests');

describe.skipIf(!hasNats)('cluster node shutdown (real nats-server)', () => {
  it('appends in flight at a clean close are acknowledged to their publisher once JetStream stores them', async () => {
    const prefix = env.prefix('sd');
    const node = await env.node(prefix, 'n1');
    const pub = await env.wire(node, 5);
    await pub.connect('sd-pub');
    const count = 20;
    env.nats.pause();
    let closing: Promise<void> | undefined;
    try {
      for (let id = 1; id <= count; id++) pub.send({ cmd: 'publish', topic: 'sd/t', payload: Buffer.from(String(id)), qos: 1, retain: false, dup: false, messageId: id } as Packet);
      await until(() => node.broker.stats.messagesReceived >= count, `${count} messages received`, 10_000);
      closing = node.close();
      await new Promise((resolve) => setTimeout(resolve, 500)); // the shutdown has begun while JetStream is stalled
    } finally {
      env.nats.resume();
    }
    await closing;
    const acks = pub.received.filter((p): p is IPubackPacket => p.cmd === 'puback');
    expect(acks.map((a) => a.messageId), 'every message acknowledged, in order').toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(acks.filter((a) => (a.reasonCode ?? 0) !== 0), 'none refused').toEqual([]);
    const nc = await env.connect();
    try {
      const stored = (await (await nc.jetstreamManager()).streams.info(`${prefix.toUpperCase()}_MSGS`)).state.messages;
      expect(stored, 'every acknowledged message is stored').toBe(count);
    } finally {
      await nc.close();
    }
  }, 60_000);
});
