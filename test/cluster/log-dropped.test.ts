/**
 * A cluster sink that falls behind its stream's retention (the JetStream stream's `max_bytes`
 * removed records it had not shipped) counts the records it missed in `dropped`, as the embedded
 * log's sinks do.
 */
import { connect } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { logStreamName } from '../../src/cluster/log-streams.js';
import { Engine } from '../helpers/engines.js';
import { eventually, hasNats, useNats } from '../helpers/cluster.js';

const lab = useNats('the cluster sink drop count test');

describe.skipIf(!hasNats)('cluster sinks: records retention removed before shipping', () => {
  let target: Engine | undefined;
  afterEach(async () => {
    await target?.destroy();
    target = undefined;
  });

  it('are counted in the sink\'s dropped, and shipped + dropped covers every record', async () => {
    // The sink's engine: a second nats-server, not running while the records are logged
    target = await Engine.nats();
    const prefix = lab.prefix('drop');
    const sinkServers = `nats://127.0.0.1:${target.port}`;
    const node = await lab.node(prefix, 'n1', {
      bridge: {
        streams: { ev: { maxBytes: 40_000, maxAgeSeconds: 3600 } },
        rules: [{ filter: 'ev/#', stream: 'ev', qos: [1, 2] }],
        sinks: [{ type: 'nats', name: 'ship', stream: 'ev', servers: sinkServers, subject: 'shipped', batchSize: 16 }],
      },
    } as never);
    const client = await node.client({ clientId: 'pub', protocolVersion: 5 });
    const payload = Buffer.alloc(1000, 7);
    const total = 200;
    for (let i = 0; i < total; i++) await client.publishAsync(`ev/${i}`, payload, { qos: 1 });
    const status = () => node.broker.bridge.status().sinks[0];
    await eventually(async () => (status()?.lease?.held ? true : undefined), 'the sink lease held', 20_000);

    // Retention removed the oldest records: the stream holds fewer than were logged
    const nc = await connect({ servers: lab.url });
    const stream = logStreamName(prefix, 'ev');
    const kept = await eventually(async () => (await (await nc.jetstreamManager()).streams.info(stream).catch(() => undefined))?.state, 'the rule stream', 10_000).finally(() => nc.close());
    expect(kept.messages).toBeLessThan(total);
    expect(kept.first_seq).toBeGreaterThan(1);

    const shipped: string[] = [];
    await target.start();
    const watch = await connect({ servers: sinkServers });
    try {
      watch.subscribe('shipped', { callback: (_err, msg) => shipped.push(msg.headers?.get('mqtt-topic') ?? '') });
      await eventually(async () => {
        const s = status();
        return s !== undefined && s.shipped + s.dropped >= total ? s : undefined;
      }, 'the sink caught up', 30_000);
      const s = status();
      expect(s?.dropped).toBe(kept.first_seq - 1);
      expect(s?.shipped).toBe(total - (kept.first_seq - 1));
      expect(s?.cursor).toBe(total + 1);
      // The records shipped are the newest ones, in order
      await eventually(async () => (shipped.length >= (s?.shipped ?? 0) ? true : undefined), 'the shipped records seen', 10_000);
      expect(shipped[0]).toBe(`ev/${kept.first_seq - 1}`);
      expect(shipped.at(-1)).toBe(`ev/${total - 1}`);
    } finally {
      await watch.close();
    }
  }, 90_000);
});
