/**
 * The log bridge's `block` overflow policy in cluster mode: a rule stream in JetStream that
 * outgrows `maxBytes` while its sink cannot ship keeps every unshipped record, and the publishers'
 * QoS 1 acknowledgements are withheld until the sink has caught up and the nodes trimmed the
 * stream back within its limit. Nothing is dropped.
 */
import { connect } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { logStreamName } from '../../src/cluster/log-streams.js';
import { Engine } from '../helpers/engines.js';
import { eventually, hasNats, useNats } from '../helpers/cluster.js';

const lab = useNats('the cluster block policy test');

describe.skipIf(!hasNats)('cluster log: the block policy', () => {
  let target: Engine | undefined;
  afterEach(async () => {
    await target?.destroy();
    target = undefined;
  });

  it('withholds acknowledgements while a stream is full and its sink is down, drops nothing, and releases them once it shipped', async () => {
    target = await Engine.nats();
    const prefix = lab.prefix('block');
    const sinkServers = `nats://127.0.0.1:${target.port}`;
    const maxBytes = 40_000;
    const node = await lab.node(prefix, 'n1', {
      bridge: {
        overflow: 'block',
        retentionIntervalMs: 100,
        streams: { ev: { maxBytes, maxAgeSeconds: 3600 } },
        rules: [{ filter: 'ev/#', stream: 'ev', qos: [1, 2] }],
        sinks: [{ type: 'nats', name: 'ship', stream: 'ev', servers: sinkServers, subject: 'shipped', batchSize: 16 }],
      },
    } as never);
    const client = await node.client({ clientId: 'pub', protocolVersion: 5 });
    const payload = Buffer.alloc(1000, 7);
    const total = 100;
    let acked = 0;
    const publishes = Array.from({ length: total }, (_, i) => client.publishAsync(`ev/${i}`, payload, { qos: 1 }).then(() => acked++));

    const nc = await connect({ servers: lab.url });
    const jsm = await nc.jetstreamManager();
    const name = logStreamName(prefix, 'ev');
    try {
      // The stream outgrows maxBytes with nothing shipped: acknowledgements stop, nothing is removed
      await eventually(async () => ((await jsm.streams.info(name)).state.bytes > maxBytes ? true : undefined), 'the stream over maxBytes', 20_000);
      await eventually(async () => (node.broker.bridge.status().blocked > 0 ? true : undefined), 'acknowledgements withheld', 30_000);
      await new Promise((r) => setTimeout(r, 1000));
      const withheld = acked;
      expect(withheld).toBeLessThan(total);
      const info = await jsm.streams.info(name);
      expect(info.config.max_bytes).toBe(-1);
      expect(info.state.first_seq).toBe(1);

      // The sink's engine comes up: the sink ships, the nodes trim what it shipped, acknowledgements flow
      const shipped: string[] = [];
      await target.start();
      const watch = await connect({ servers: sinkServers });
      try {
        watch.subscribe('shipped', { callback: (_err, msg) => shipped.push(msg.headers?.get('mqtt-topic') ?? '') });
        await Promise.all(publishes);
        expect(acked).toBe(total);
        await eventually(async () => (shipped.length >= total ? true : undefined), 'every record shipped', 30_000);
        expect(shipped).toEqual(Array.from({ length: total }, (_, i) => `ev/${i}`));
        const sink = node.broker.bridge.status().sinks[0];
        expect(sink?.dropped).toBe(0);
        expect(node.broker.bridge.status().blocked).toBe(0);
        // Back within its limit
        await eventually(async () => ((await jsm.streams.info(name)).state.bytes <= maxBytes ? true : undefined), 'the stream trimmed', 10_000);
      } finally {
        await watch.close();
      }
    } finally {
      await nc.close();
    }
  }, 120_000);

  it('trims records older than maxAgeSeconds (no sink reads the stream), keeping the newer ones', async () => {
    const prefix = lab.prefix('blockage');
    const node = await lab.node(prefix, 'n1', {
      bridge: {
        overflow: 'block',
        retentionIntervalMs: 100,
        streams: { ev: { maxBytes: 10_000_000, maxAgeSeconds: 1 } },
        rules: [{ filter: 'ev/#', stream: 'ev', qos: [1, 2] }],
      },
    } as never);
    const client = await node.client({ clientId: 'pub', protocolVersion: 5 });
    for (let i = 0; i < 10; i++) await client.publishAsync(`ev/${i}`, 'old', { qos: 1 });
    await new Promise((r) => setTimeout(r, 1500));
    for (let i = 10; i < 15; i++) await client.publishAsync(`ev/${i}`, 'new', { qos: 1 });
    const nc = await connect({ servers: lab.url });
    try {
      const jsm = await nc.jetstreamManager();
      const name = logStreamName(prefix, 'ev');
      const state = await eventually(async () => {
        const info = await jsm.streams.info(name);
        return info.state.first_seq >= 11 ? info.state : undefined;
      }, 'the old records trimmed', 10_000);
      // Every old record went; new ones may have aged out too on a slow machine, never an old one kept
      expect(state.first_seq).toBeGreaterThanOrEqual(11);
      expect(state.last_seq).toBe(15);
    } finally {
      await nc.close();
    }
  }, 60_000);
});
