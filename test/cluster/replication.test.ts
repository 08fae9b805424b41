import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from 'nats';
import { Engine, installed } from '../helpers/engines.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { decodeMessage } from '../../src/store/records.js';

const hasNats = installed('nats-server');
if (!hasNats) console.warn('SKIPPED: nats-server is not installed (apt-get install nats-server); cluster replication (3-server NATS) tests skipped');

let servers: Engine[] = [];
let urls: string[] = [];
const opened: TestBroker[] = [];

async function until<T>(attempt: () => Promise<T | undefined>, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A NATS connection to the servers still running. */
function natsClient(): Promise<NatsConnection> {
  return connect({ servers: urls, timeout: 5000, maxReconnectAttempts: 20 });
}

beforeAll(async () => {
  if (!hasNats) return;
  servers = await Engine.natsCluster(3);
  await Promise.all(servers.map((s) => s.start()));
  urls = servers.map((s) => `nats://127.0.0.1:${s.port}`);
  // JetStream answers once the three servers elected a meta leader
  const nc = await natsClient();
  try {
    await until(async () => (await (await nc.jetstreamManager()).getAccountInfo()) ?? undefined, 'JetStream on the 3-server NATS cluster', 30_000);
  } finally {
    await nc.close();
  }
}, 60_000);
afterEach(async () => {
  await Promise.all(opened.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.destroy()));
});

describe.skipIf(!hasNats)('cluster mode on a 3-server NATS cluster, replicas 3 (failure test 6)', () => {
  it('kill -9 of the MSGS stream leader during a QoS 1 burst: every message the publisher got a PUBACK for is stored exactly once', async () => {
    const prefix = `rep${Date.now() % 100000}`;
    const stream = `${prefix.toUpperCase()}_MSGS`;
    // Stream creation with 3 replicas can be refused for a moment while the cluster settles
    const node = await until(async () => startBroker({ cluster: { servers: urls, nodeId: 'r1', prefix, replicas: 3 } }), 'a Midge node on the NATS cluster', 30_000);
    opened.push(node);
    const nc = await natsClient();
    try {
      const jsm = await nc.jetstreamManager();
      const info = await jsm.streams.info(stream);
      expect(info.config.num_replicas).toBe(3);
      const leader = await until(async () => (await jsm.streams.info(stream)).cluster?.leader || undefined, 'a stream leader', 15_000);
      const victim = servers.find((s) => s.name === leader);
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
