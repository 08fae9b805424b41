/**
 * The log bridge in cluster mode: rule streams in JetStream written from any node and read by
 * `midge log` through another node's config; a sink runs on exactly one node (its lease), and
 * after kill -9 of that node another takes the lease over and ships every logged record.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine, freePort, installed } from '../helpers/engines.js';
import { midgeLog } from '../helpers/midge-log.js';
import { assertBuilt, Lab, until, type BrokerProcess } from '../crash/helpers.js';

const hasNats = installed('nats-server');
if (!hasNats) console.warn('SKIPPED: nats-server is not installed (apt-get install nats-server); cluster log tests skipped');

const LEASE_SECONDS = 3;
let nats: Engine;
let watcher: NatsConnection;
const lab = new Lab();

beforeAll(async () => {
  if (!hasNats) return;
  assertBuilt();
  nats = await Engine.nats();
  await nats.start();
  watcher = await connect({ servers: `nats://127.0.0.1:${nats.port}` });
});
afterEach(() => lab.cleanup());
afterAll(async () => {
  await watcher?.close();
  await nats?.destroy();
});

interface Node {
  readonly process: BrokerProcess;
  readonly config: string;
  readonly httpPort: number;
}

/** Node `nodeId` of cluster `prefix`, logging `ev/#` at QoS 1 to stream `ev` with one NATS sink on `sink.<prefix>`. */
async function node(prefix: string, nodeId: string): Promise<Node> {
  const dataDir = lab.dataDir();
  const config = path.join(path.dirname(dataDir), `midge-${nodeId}.json`);
  const servers = `nats://127.0.0.1:${nats.port}`;
  writeFileSync(config, JSON.stringify({
    cluster: { servers, nodeId, prefix, sinkLeaseSeconds: LEASE_SECONDS },
    bridge: {
      streams: { ev: { maxBytes: 10_000_000, maxAgeSeconds: 3600 } },
      rules: [{ filter: 'ev/#', stream: 'ev', qos: [1, 2] }],
      sinks: [{ type: 'nats', name: 'ship', stream: 'ev', servers, subject: `sink.${prefix}`, jetstream: `SINK_${prefix}`, batchSize: 16 }],
    },
  }));
  const httpPort = await freePort();
  const process = lab.spawn(dataDir, ['--config', config, '--host', '127.0.0.1', '--port', '0', '--ws-port', '-1', '--http-port', String(httpPort), '--data-dir', dataDir, '--log-level', 'info']);
  await process.listening(30_000);
  return { process, config, httpPort };
}

interface SinkView {
  name: string;
  state: string;
  lease?: { held: boolean; holder: string | undefined };
}

async function sinks(n: Node): Promise<SinkView[]> {
  const res = await fetch(`http://127.0.0.1:${n.httpPort}/status.json`);
  const body = (await res.json()) as { bridge: { sinks: SinkView[] } };
  return body.bridge.sinks;
}

async function leaseHeld(n: Node): Promise<boolean> {
  return (await sinks(n))[0]?.lease?.held === true;
}

/** Waits (up to 15 s) until exactly one of `nodes` holds the lease, failing at once if two do. */
async function oneHolder(nodes: readonly Node[]): Promise<Node[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const holders: Node[] = [];
    for (const n of nodes) if (await leaseHeld(n)) holders.push(n);
    expect(holders.length, 'nodes holding the lease at once').toBeLessThanOrEqual(1);
    if (holders.length === 1) return holders;
    if (Date.now() > deadline) throw new Error('no node holds the sink lease');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Counts every record the sink publishes on its subject (core subscription: resends are seen too). */
function countDeliveries(prefix: string): Map<string, number> {
  const seen = new Map<string, number>();
  watcher.subscribe(`sink.${prefix}`, { callback: (_err, msg) => seen.set(msg.string(), (seen.get(msg.string()) ?? 0) + 1) });
  return seen;
}

async function publish(n: Node, payloads: string[]): Promise<void> {
  const client = await lab.connectMqtt(n.process.port, { protocolVersion: 5 });
  for (const p of payloads) await client.publishAsync('ev/x', p, { qos: 1 }); // resolves on PUBACK
  await client.endAsync();
}

const range = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag}-${i}`);

describe.skipIf(!hasNats)('cluster mode: the log and sinks in JetStream (real nats-server, child processes)', () => {
  it('a rule stream written from nodes 1 and 2 is read by midge log from node 3; the sink runs on exactly one node', async () => {
    const prefix = `lg${Date.now() % 100000}`;
    const delivered = countDeliveries(prefix);
    const nodes = [await node(prefix, 'n1'), await node(prefix, 'n2'), await node(prefix, 'n3')];
    const [n1, n2, n3] = nodes as [Node, Node, Node];
    await publish(n1, range('a', 20));
    await publish(n2, range('b', 20));

    const read = await midgeLog(n3.process.cwd, ['read', 'ev', '--config', n3.config, '--limit', '1000', '--json'], 30_000);
    expect(read.stderr).toBe('');
    expect(read.code).toBe(0);
    const records = read.stdout.trim().split('\n').map((l) => JSON.parse(l) as { offset: number; payload: string; topic: string; qos: number });
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(records.filter((r) => r.payload.startsWith('a-')).map((r) => r.payload)).toEqual(range('a', 20));
    expect(records.filter((r) => r.payload.startsWith('b-')).map((r) => r.payload)).toEqual(range('b', 20));
    expect(records.every((r) => r.topic === 'ev/x' && r.qos === 1)).toBe(true);
    const from = await midgeLog(n3.process.cwd, ['read', 'ev', '--cluster', `nats://127.0.0.1:${nats.port}`, '--prefix', prefix, '--from', '39'], 30_000);
    expect(from.stdout.trim().split('\n').map((l) => l.split('\t')[0])).toEqual(['39', '40']);
    // A consumer group resumes where it committed, whichever node's config the command uses
    const first = await midgeLog(n1.process.cwd, ['read', 'ev', '--config', n1.config, '--group', 'g:1', '--limit', '30'], 30_000);
    expect(first.stdout.trim().split('\n')).toHaveLength(30);
    const rest = await midgeLog(n3.process.cwd, ['read', 'ev', '--config', n3.config, '--group', 'g:1'], 30_000);
    expect(rest.stdout.trim().split('\n').map((l) => l.split('\t')[0])).toEqual(Array.from({ length: 10 }, (_, i) => String(i + 31)));
    const stat = await midgeLog(n3.process.cwd, ['stat', 'ev', '--config', n3.config], 30_000);
    expect(stat.stdout).toMatch(/^ev\trecords 40 \(offsets 1\.\.40\)\tbytes \d+\tretention maxBytes 10000000, maxAge 3600s\tgroups g:1@41/);

    await until(() => delivered.size === 40, `the sink shipped 40 records (has ${delivered.size})`, 30_000);
    // Exactly one holder; on a loaded machine a renewal can miss its TTL, and the lease then moves
    // (zero holders for a moment), but two nodes never hold it at once
    const holders = await oneHolder(nodes);
    const running = (await Promise.all(nodes.map(sinks))).filter((s) => s[0]?.state === 'running');
    expect(running.length).toBeLessThanOrEqual(1);
    const metrics = await (await fetch(`http://127.0.0.1:${(holders[0] as Node).httpPort}/metrics`)).text();
    expect(metrics).toMatch(/midge_bridge_sink_lease_held\{sink="ship",stream="ev"\} 1/);
    const duplicates = [...delivered.values()].reduce((a, c) => a + c - 1, 0);
    expect(duplicates).toBe(0); // one runner, no failure: nothing shipped twice
  }, 120_000);

  it('kill -9 of the lease holder: another node takes the lease within the TTL and the sink gets every logged record', async () => {
    const prefix = `lk${Date.now() % 100000}`;
    const delivered = countDeliveries(prefix);
    const nodes = [await node(prefix, 'n1'), await node(prefix, 'n2'), await node(prefix, 'n3')];
    let holder: Node | undefined;
    const findHolder = async (among: Node[]) => {
      for (const n of among) if (await leaseHeld(n)) return n;
      return undefined;
    };
    const started = Date.now();
    while (!(holder = await findHolder(nodes)) && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 200));
    expect(holder).toBeDefined();
    const survivors = nodes.filter((n) => n !== holder);
    const publisher = survivors[0] as Node;
    const before = range('p', 60);
    await publish(publisher, before);
    // Kill while the sink is busy: some records shipped, maybe not their position
    await until(() => delivered.size >= 10, 'the sink started shipping', 30_000);
    await (holder as Node).process.crash();
    const killedAt = Date.now();
    const takeover = (async () => {
      let next: Node | undefined;
      while (!(next = await findHolder(survivors)) && Date.now() - killedAt < 30_000) await new Promise((r) => setTimeout(r, 100));
      return { next, ms: Date.now() - killedAt };
    })();
    const after = range('q', 40);
    await publish(publisher, after); // logged while the sink may run nowhere
    const { next, ms: takeoverMs } = await takeover;
    expect(next).toBeDefined();
    // The waiting node takes over once the revision has been still for the TTL (checked every TTL/3);
    // the bound leaves room for a loaded machine
    expect(takeoverMs).toBeLessThan(LEASE_SECONDS * 1000 * 3 + 3000);
    const all = [...before, ...after];
    await until(() => all.every((p) => delivered.has(p)), `the sink shipped all ${all.length} records`, 30_000);
    const duplicates = [...delivered.values()].reduce((a, c) => a + c - 1, 0);
    console.info(`cluster sink failover: lease taken over after ${takeoverMs} ms; ${all.length} records shipped, ${duplicates} shipped twice (at least once)`);
    expect([...delivered.keys()].sort()).toEqual([...all].sort());
    await oneHolder(survivors);
  }, 120_000);
});
