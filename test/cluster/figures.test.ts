import { describe, expect, it } from 'vitest';
import { startBroker } from '../helpers/broker.js';
import { hasNats, until, useNats } from '../helpers/cluster.js';

const env = useNats('cluster figures tests');
/** One sample of a metric from Prometheus text. */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no sample ${name} in:\n${text}`);
  return Number(line.slice(name.length + 1));
}

describe.skipIf(!hasNats)('cluster mode: per-node cluster figures in /metrics, /status.json and $SYS (real nats-server)', () => {
  it('report nodes seen, sessions owned and the JetStream append count and latency', async () => {
    const prefix = env.prefix('fig');
    const a = await env.node(prefix, 'f1', { httpPort: 0, metricsAuth: false, sysInterval: 1 });
    const b = await env.node(prefix, 'f2');
    const http = `http://127.0.0.1:${a.broker.addresses().http?.port}`;
    const pub = await a.client({ clientId: 'fig-pub' });
    await b.client({ clientId: 'fig-other' });
    for (let i = 0; i < 20; i++) await pub.publishAsync('fig/t', `m${i}`, { qos: 1 });

    let metrics = '';
    await until(async () => {
      metrics = await (await fetch(`${http}/metrics`)).text();
      return sample(metrics, 'midge_cluster_nodes') === 2;
    }, 'both nodes seen');
    expect(sample(metrics, 'midge_cluster_connected')).toBe(1);
    expect(sample(metrics, 'midge_cluster_sessions_owned')).toBe(1); // fig-pub; fig-other is node b's
    expect(sample(metrics, 'midge_cluster_append_duration_seconds_count')).toBe(20);
    expect(sample(metrics, 'midge_cluster_append_retries_total')).toBe(0);
    expect(sample(metrics, 'midge_cluster_append_failures_total')).toBe(0);

    const status = (await (await fetch(`${http}/status.json`)).json()) as { cluster: { nodeId: string; nodesSeen: number; sessionsOwned: number; append: { count: number; p50Ms: number; p99Ms: number } } };
    expect(status.cluster).toMatchObject({ nodeId: 'f1', nodesSeen: 2, sessionsOwned: 1, append: { count: 20 } });
    expect(status.cluster.append.p50Ms).toBeGreaterThan(0);
    expect(status.cluster.append.p99Ms).toBeGreaterThanOrEqual(status.cluster.append.p50Ms);

    // $SYS is the node's own: a subscriber on node a reads node a's figures
    const sys = await a.client({ clientId: 'fig-sys' });
    const got = new Map<string, string>();
    sys.on('message', (topic, payload) => got.set(topic, payload.toString()));
    await sys.subscribeAsync('$SYS/broker/cluster/#');
    await until(() => got.has('$SYS/broker/cluster/append/latency/p99') && got.get('$SYS/broker/cluster/nodes') === '2', '$SYS cluster topics');
    expect(got.get('$SYS/broker/cluster/node')).toBe('f1');
    expect(Number(got.get('$SYS/broker/cluster/append/count'))).toBeGreaterThanOrEqual(20);
  }, 30_000);

  it('a single-process broker has no cluster figures', async () => {
    const solo = env.track(await startBroker({ httpPort: 0, metricsAuth: false }));
    const http = `http://127.0.0.1:${solo.broker.addresses().http?.port}`;
    expect(await (await fetch(`${http}/metrics`)).text()).not.toContain('midge_cluster_');
    expect(((await (await fetch(`${http}/status.json`)).json()) as { cluster: unknown }).cluster).toBeNull();
  });
});
