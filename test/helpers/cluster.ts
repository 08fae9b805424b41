/**
 * Shared setup of the cluster tests (test/cluster/): one nats-server with JetStream (or a NATS
 * cluster of several) on free loopback ports for a test file, stopped by PID after it; Midge nodes
 * in this process or as child processes (kill -9, restart with the same node id); and the waits
 * those tests use. A file without nats-server installed says that it was skipped.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { BrokerOptions } from '../../src/index.js';
import { assertBuilt, Lab, type BrokerProcess } from '../crash/helpers.js';
import { startBroker, type TestBroker } from './broker.js';
import { Engine, installed } from './engines.js';
import { Wire } from './wire.js';

export const hasNats = installed('nats-server');

/** What `useNats` gives a test file. */
export interface NatsLab {
  /** The first (or only) nats-server; defined inside the file's tests. */
  readonly nats: Engine;
  /** Every nats-server of the file (one unless `servers` was more). */
  readonly servers: readonly Engine[];
  /** The client URLs of every nats-server, comma-separated (the `cluster.servers` option). */
  readonly url: string;
  /** Child processes, raw sockets and mqtt.js clients of child-process tests, cleaned up after each test. */
  readonly lab: Lab;
  /** A cluster prefix no other test of the run uses (its own streams and buckets). */
  prefix(tag?: string): string;
  /** The `cluster` option of node `nodeId` in cluster `prefix`. */
  options(prefix: string, nodeId: string, extra?: Record<string, unknown>): BrokerOptions;
  /** Starts node `nodeId` of cluster `prefix` in this process (closed after the test). */
  node(prefix: string, nodeId: string, options?: BrokerOptions): Promise<TestBroker>;
  /** Closes `broker` (a node or not) after the test, unless the test closed it; returns it. */
  track(broker: TestBroker): TestBroker;
  /** Starts `count` nodes n1… of a fresh cluster in this process (closed after the test). */
  nodes(count: number, tag?: string): Promise<TestBroker[]>;
  /** A raw MQTT connection to an in-process node (closed after the test). */
  wire(node: TestBroker, version?: 4 | 5): Promise<Wire>;
  /**
   * Starts node `nodeId` of cluster `prefix` as a child process with a data directory of its own,
   * on `port` (0: any), with `env` added to its environment (a MIDGE_CRASH_* hook; not kept by a
   * restart); kill it with `crash()`, start it again with `lab.restart(node)`.
   */
  spawn(prefix: string, nodeId: string, port?: number, env?: Readonly<Record<string, string>>): Promise<BrokerProcess>;
  /** A NATS connection to the file's servers (close it). */
  connect(): Promise<NatsConnection>;
}

/**
 * Registers the hooks of a cluster test file: starts `servers` nats-servers before its tests (for
 * several, one NATS cluster, waiting until JetStream answers) and destroys them after; closes the
 * nodes, sockets and child processes of each test after it. `what` names the tests in the skip notice.
 */
export function useNats(what: string, servers = 1): NatsLab {
  if (!hasNats) console.warn(`SKIPPED: nats-server is not installed (apt-get install nats-server); ${what} skipped`);
  let engines: Engine[] = [];
  let prefixCount = 0;
  const opened: TestBroker[] = [];
  const wires: Wire[] = [];
  const lab = new Lab();

  beforeAll(async () => {
    if (!hasNats) return;
    engines = servers === 1 ? [await Engine.nats()] : await Engine.natsCluster(servers);
    await Promise.all(engines.map((e) => e.start()));
    if (servers > 1) {
      // JetStream answers once the servers elected a meta leader
      const nc = await result.connect();
      try {
        await eventually(async () => (await nc.jetstreamManager()).getAccountInfo(), 'JetStream on the NATS cluster', 30_000);
      } finally {
        await nc.close();
      }
    }
  }, 60_000);
  afterEach(async () => {
    for (const w of wires.splice(0)) w.close();
    await Promise.all(opened.splice(0).map((b) => b.close()));
    await lab.cleanup();
  });
  afterAll(async () => {
    await Promise.all(engines.map((e) => e.destroy()));
  });

  const result: NatsLab = {
    get nats() {
      const first = engines[0];
      if (first === undefined) throw new Error('nats-server is not started (outside a test, or not installed)');
      return first;
    },
    get servers() {
      return engines;
    },
    get url() {
      return engines.map((e) => `nats://127.0.0.1:${e.port}`).join(',');
    },
    lab,
    prefix(tag = 'c') {
      return `${tag}${++prefixCount}${Date.now() % 100000}`;
    },
    options(prefix, nodeId, extra = {}) {
      return { cluster: { servers: result.url, nodeId, prefix, ...extra } } as BrokerOptions;
    },
    async node(prefix, nodeId, options = {}) {
      return result.track(await startBroker({ ...result.options(prefix, nodeId), ...options }));
    },
    track(broker) {
      let closing: Promise<void> | undefined;
      const tracked: TestBroker = { ...broker, close: () => (closing ??= broker.close()) };
      opened.push(tracked);
      return tracked;
    },
    async nodes(count, tag) {
      const prefix = result.prefix(tag);
      const started: TestBroker[] = [];
      for (let i = 1; i <= count; i++) started.push(await result.node(prefix, `n${i}`));
      return started;
    },
    async wire(node, version = 5) {
      const w = await Wire.open(node.port, version);
      wires.push(w);
      return w;
    },
    async spawn(prefix, nodeId, port = 0, env) {
      assertBuilt();
      const dataDir = lab.dataDir();
      const config = path.join(path.dirname(dataDir), 'midge.json');
      writeFileSync(config, JSON.stringify(result.options(prefix, nodeId)));
      const args = ['--config', config, '--host', '127.0.0.1', '--port', String(port), '--ws-port', '-1', '--http-port', '-1', '--data-dir', dataDir, '--log-level', 'info'];
      const broker = lab.spawn(dataDir, args, env);
      await broker.listening(30_000);
      return broker;
    },
    connect() {
      return connect({ servers: engines.map((e) => `nats://127.0.0.1:${e.port}`), timeout: 5000, maxReconnectAttempts: 20 });
    },
  };
  return result;
}

/** Polls `check` every 20 ms until it holds; rejects naming `what` after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Retries `attempt` every 200 ms until it returns a value other than undefined (errors count as not yet). */
export async function eventually<T>(attempt: () => Promise<T | undefined>, what: string, timeoutMs: number): Promise<T> {
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
