import { describe, expect, it } from 'vitest';
import { startBroker } from '../helpers/broker.js';
import { eventually as until, hasNats, useNats } from '../helpers/cluster.js';
import { decodeMessage } from '../../src/store/records.js';

const env = useNats('cluster replication (3-server NATS) tests', 3);

describe.skipIf(!hasNats)('cluster mode on a 3-server NATS cluster, replicas 3 (failure test 6)', () => {
  it('kill -9 of the MSGS stream leader during a QoS 1 burst: every message the publisher got a PUBACK for is stored exactly once', async () => {
    const prefix = env.prefix('rep');
    const stream = `${prefix.toUpperCase()}_MSGS`;
    // Stream creation with 3 replicas can be refused for a moment while the cluster settles
    const node = env.track(await until(async () => startBroker(env.options(prefix, 'r1', { replicas: 3 })), 'a Midge node on the NATS cluster', 30_000));
    const nc = await env.connect();
    try {
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.info(stream);
      expect(info.config.num_replicas).toBe(3);
      const leader = await until(async () => (await jsm.streams.info(stream)).cluster?.leader || undefined, 'a stream leader', 15_000);
      const victim = env.servers.find((s) => s.name === leader);
      expect(victim, `leader ${leader} is one of ours`).toBeDefined();

      const pub = await node.client({ clientId: 'rep-pub', protocolVersion: 4 });
      const total = 400;
      const acked = new Set<string>();
      const refused: string[] = [];
      for (let i = 0; i < total; i++) {
        const payload = `m${i}`;
        pub.publish('rep/burst', payload, { qos: 1 }, (err) => (err ? refused.push(payload) : acked.add(payload)));
        if (i === 150) await victim?.kill();
        await new Promise((r) => setTimeout(r, 3));
      }
      await until(async () => (acked.size + refused.length === total ? true : undefined), `every PUBACK (have ${acked.size})`, 90_000);
      expect(refused).toEqual([]);

      // A new leader serves the stream; read back everything it holds
      const newLeader = await until(async () => (await jsm.streams.info(stream)).cluster?.leader || undefined, 'a new stream leader', 30_000);
      expect(newLeader).not.toBe(leader);
      const stored = new Map<string, number>();
      // Every message the stream holds, read by sequence (direct reads from the new leader)
      const state = (await jsm.streams.info(stream)).state;
      let read = 0;
      for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq });
        const payload = Buffer.from(decodeMessage(m.data).payload).toString();
        stored.set(payload, (stored.get(payload) ?? 0) + 1);
        read++;
      }
      const missing = [...acked].filter((p) => !stored.has(p));
      const twice = [...stored].filter(([, n]) => n > 1).map(([p]) => p);
      expect(missing, 'acknowledged but not stored').toEqual([]);
      expect(twice, 'stored more than once').toEqual([]);
      expect(read).toBe(total);
      console.info(`failure test 6: ${total} acknowledged, ${read} stored once each; leader ${leader} killed, new leader ${newLeader}; node figures ${JSON.stringify(node.broker.cluster?.status().append)}`);
    } finally {
      await nc.close();
    }
  }, 150_000);
});
