/**
 * Flow control in cluster mode (docs/cluster.md, *Flow control*): a consuming subscriber on one
 * node whose queue fills with stored QoS 1/2 messages from publishers on another node loses none
 * of them. They are left out of its queue and read back from the MSGS stream once it has room, in
 * order, once each. A subscriber that stops acknowledging still follows queueOverflow, counted.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import type { BrokerOptions } from '../../src/index.js';
import type { TestBroker } from '../helpers/broker.js';
import { hasNats, until, useNats } from '../helpers/cluster.js';

const env = useNats('cluster flow control tests');

/** Small bounds, so the subscriber's queue fills within a short test. */
const LIMITS: BrokerOptions = { maxInflight: 10, maxQueuedMessages: 100 };

type Ack = (error: Error | number, code?: number) => void;

/**
 * An MQTT 5 subscriber on `node` that acknowledges each message `delayMs` after it arrived, one at
 * a time (mqtt.js reads the next packet once the previous one is acknowledged), or never once
 * `paused()` holds. `received` is every delivery in arrival order.
 */
async function slowSubscriber(node: TestBroker, clientId: string, filter: string, qos: 1 | 2, delayMs: number, paused = () => false, extra: IClientOptions = {}): Promise<{ client: MqttClient; received: string[] }> {
  const received: string[] = [];
  const options: IClientOptions = {
    ...extra,
    clientId,
    protocolVersion: 5,
    customHandleAcks: (_topic: string, payload: Buffer, _packet: unknown, ack: Ack) => {
      received.push(payload.toString());
      if (!paused()) setTimeout(() => ack(0), delayMs);
    },
  };
  const client = await node.client(options);
  await client.subscribeAsync(filter, { qos });
  return { client, received };
}

/** Publishes `count` numbered messages ('<name>:<i>') with at most `window` unacknowledged, as fast as the acknowledgements come. */
async function publishAll(client: MqttClient, name: string, topic: string, count: number, qos: 1 | 2, window: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      await client.publishAsync(topic, `${name}:${i}`, { qos });
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
}

/** Per publisher name: the message numbers in the order they arrived. */
function byPublisher(received: readonly string[]): Map<string, number[]> {
  const lanes = new Map<string, number[]>();
  for (const r of received) {
    const [name = '', i = ''] = r.split(':');
    let lane = lanes.get(name);
    if (lane === undefined) lanes.set(name, (lane = []));
    lane.push(Number(i));
  }
  return lanes;
}

describe.skipIf(!hasNats)('cluster mode: flow control (real nats-server)', () => {
  it.each([1, 2] as const)(
    'QoS %i: publishers at full speed on node a, a subscriber acknowledging slowly on node b: its queue fills, nothing is lost, nothing repeated, in order per publisher; the catch-up read the rest from the stream',
    async (qos) => {
      const prefix = env.prefix('flow');
      const a = await env.node(prefix, 'a', LIMITS);
      const b = await env.node(prefix, 'b', LIMITS);
      const sub = await slowSubscriber(b, `flow-sub-${qos}`, 'flow/#', qos, 1);
      const names = ['p0', 'p1', 'p2', 'p3', 'p4'];
      const count = 300;
      const publishers = await Promise.all(names.map((name) => a.client({ clientId: `flow-${name}-${qos}`, protocolVersion: 5 })));
      let maxQueued = 0;
      const probe = setInterval(() => {
        maxQueued = Math.max(maxQueued, b.broker.session(`flow-sub-${qos}`)?.queued ?? 0);
      }, 5);
      try {
        await Promise.all(publishers.map((p, i) => publishAll(p, names[i] as string, `flow/${i}`, count, qos, 10)));
        const total = names.length * count;
        await until(() => sub.received.length >= total, `every message to arrive (have ${sub.received.length} of ${total})`, 60_000);
      } finally {
        clearInterval(probe);
      }
      await new Promise((resolve) => setTimeout(resolve, 300)); // anything delivered twice would arrive now
      const lanes = byPublisher(sub.received);
      for (const name of names) {
        expect(lanes.get(name), `${name}: every message once, in order`).toEqual(Array.from({ length: count }, (_, i) => i));
      }
      expect(sub.received).toHaveLength(names.length * count);
      const figures = b.broker.cluster?.status().catchUp;
      // The slow path was taken: stored messages were left out of the full queue and read back from the stream
      expect(figures?.deferred).toBeGreaterThan(0);
      expect(figures?.read).toBeGreaterThan(0);
      expect(b.broker.stats.dropped['queue-full'] ?? 0).toBe(0);
      expect(maxQueued).toBeLessThanOrEqual(100); // the queue stayed within its bound
      await until(() => b.broker.cluster?.status().catchUp.behind === 0, 'the session to take live messages again');
      console.info(`cluster flow QoS ${qos}: ${sub.received.length} delivered; left out ${figures?.deferred}, read back ${figures?.read} in ${figures?.episodes} episode(s); deepest queue ${maxQueued}`);
    },
    120_000,
  );

  it('a persistent session taken over by another node while behind: the new node reads the rest from the record\'s floor, nothing is lost', async () => {
    const prefix = env.prefix('ftake');
    const a = await env.node(prefix, 'a', LIMITS);
    const b = await env.node(prefix, 'b', LIMITS);
    // Node c replays the session's backlog into its queue before the client is attached, where the
    // queue's bounds apply as to any offline session: they hold the whole backlog here (default 1000)
    const c = await env.node(prefix, 'c', { maxInflight: 10 });
    const persistent: IClientOptions = { clean: false, properties: { sessionExpiryInterval: 300 }, reconnectPeriod: 0 };
    const first = await slowSubscriber(b, 'take-sub', 'take/#', 1, 2, () => false, persistent);
    first.client.on('error', () => undefined); // the takeover closes it (0x8E)
    const pub = await a.client({ clientId: 'take-pub', protocolVersion: 5 });
    const total = 1000;
    const publishing = publishAll(pub, 'p', 'take/t', total, 1, 10);
    await until(() => (b.broker.cluster?.status().catchUp.behind ?? 0) > 0, 'the subscriber to fall behind', 30_000);
    // Taken over once everything is published and node b has read back from the stream (and fetched
    // ahead) while still behind: what it fetched stays in the stream
    await publishing;
    await until(() => (b.broker.cluster?.status().catchUp.read ?? 0) > 0, 'a read back from the stream on node b', 30_000);
    expect(b.broker.cluster?.status().catchUp.behind).toBe(1);
    const second = await slowSubscriber(c, 'take-sub', 'take/#', 1, 0, () => false, persistent);
    const union = () => new Set([...first.received, ...second.received]);
    await until(() => union().size >= total, `every message to arrive (have ${union().size} of ${total}; dropped on c: ${JSON.stringify(c.broker.stats.dropped)})`, 60_000);
    expect(c.broker.stats.dropped['queue-full'] ?? 0).toBe(0);
    expect(b.broker.stats.dropped['queue-full'] ?? 0).toBe(0); // going offline while behind read nothing into its queue
    expect(b.broker.session('take-sub')).toBeUndefined(); // node b let the session go
    const lane = byPublisher(second.received).get('p') ?? [];
    // On node c: in order, apart from the redeliveries of what node b had sent unacknowledged (QoS 1 allows them)
    const firstNew = lane.findIndex((i) => !first.received.includes(`p:${i}`));
    expect(lane.slice(firstNew)).toEqual([...lane.slice(firstNew)].sort((x, y) => x - y));
    console.info(`cluster flow takeover: node b delivered ${first.received.length}, node c ${second.received.length}; behind on b: deferred ${b.broker.cluster?.status().catchUp.deferred}`);
  }, 120_000);

  it('a subscriber that stops acknowledging while behind follows queueOverflow: its drops are counted, and the healthy subscriber misses nothing', async () => {
    const prefix = env.prefix('fstall');
    const a = await env.node(prefix, 'a', LIMITS);
    const b = await env.node(prefix, 'b', { ...LIMITS, stallTimeout: 1000 });
    let paused = false;
    const stalled = await slowSubscriber(b, 'stall-sub', 'st/#', 1, 1, () => paused);
    const healthy = await slowSubscriber(b, 'healthy-sub', 'st/#', 1, 0);
    const pub = await a.client({ clientId: 'stall-pub', protocolVersion: 5 });
    await publishAll(pub, 'p', 'st/t', 600, 1, 10);
    expect(b.broker.cluster?.status().catchUp.episodes, 'the first subscriber fell behind').toBeGreaterThan(0);
    paused = true; // from now on the first subscriber acknowledges nothing
    await publishAll(pub, 'q', 'st/t', 600, 1, 10);
    await until(() => healthy.received.length >= 1200, `the healthy subscriber to get everything (have ${healthy.received.length})`, 60_000);
    expect(byPublisher(healthy.received).get('q')).toEqual(Array.from({ length: 600 }, (_, i) => i));
    // Stalled: its queue follows queueOverflow (drop-oldest) and every drop is counted
    await until(() => (b.broker.stats.dropped['queue-full'] ?? 0) > 0, 'the stalled subscriber\'s overflow to be dropped and counted', 20_000);
    await until(() => b.broker.cluster?.status().catchUp.behind === 0, 'no session to be behind', 20_000);
    // Each message reaches it, waits in its window or queue, or is dropped and counted (node b's live
    // path may still be bringing some: the healthy subscriber may have had them from the stream)
    const accounted = () => {
      const { queued = 0, inflight = 0 } = b.broker.session('stall-sub') ?? {};
      return stalled.received.length + inflight + queued + (b.broker.stats.dropped['queue-full'] ?? 0);
    };
    await until(() => accounted() >= 1200, `every message delivered, waiting or counted as dropped (have ${accounted()})`, 20_000);
    expect(b.broker.session('stall-sub')?.queued ?? 0).toBeLessThanOrEqual(100);
  }, 120_000);
});
