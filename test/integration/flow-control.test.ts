import type { IClientOptions, MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerOptions } from '../../src/index.js';
import { collect, startBroker, until, type TestBroker } from '../helpers/broker.js';

let t: TestBroker | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** Small bounds, so queues fill within a short test. */
const LIMITS: BrokerOptions = { maxInflight: 10, maxQueuedMessages: 100 };

type Ack = (error: Error | number, code?: number) => void;

/**
 * A subscriber that acknowledges each message `delayMs` after it arrived, one at a time (mqtt.js reads
 * the next packet only once the previous one is acknowledged), or never while `paused()` is true.
 */
async function slowSubscriber(filter: string, qos: 1 | 2, delayMs: number, opts: IClientOptions = {}, paused = () => false): Promise<{ client: MqttClient; received: string[] }> {
  const received: string[] = [];
  let release: (() => void) | undefined;
  const client = await (t as TestBroker).client({
    protocolVersion: 5,
    ...opts,
    customHandleAcks: (_topic: string, payload: Buffer, _packet: unknown, ack: Ack) => {
      received.push(payload.toString());
      const go = () => setTimeout(() => ack(0), delayMs); // reason code 0: accepted
      if (paused()) release = go;
      else go();
    },
  });
  await client.subscribeAsync(filter, { qos });
  return Object.assign({ client, received }, { resume: () => release?.() });
}

/**
 * Publishes `count` numbered messages ('<name>:<i>') with at most `window` unacknowledged, as a
 * client honouring its Receive Maximum does; resolves with the longest wait for one acknowledgement.
 */
async function publishAll(client: MqttClient, name: string, topic: string, count: number, qos: 1 | 2, window: number): Promise<{ longestAckMs: number }> {
  let next = 0;
  let longestAckMs = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      const started = Date.now();
      await client.publishAsync(topic, `${name}:${i}`, { qos });
      longestAckMs = Math.max(longestAckMs, Date.now() - started);
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  return { longestAckMs };
}

/** The messages of `names` × `count` that `received` lacks. */
function missing(received: readonly string[], names: readonly string[], count: number): string[] {
  const got = new Set(received);
  return names.flatMap((name) => Array.from({ length: count }, (_, i) => `${name}:${i}`)).filter((m) => !got.has(m));
}

const RUNS = [
  { qos: 1, version: 5 },
  { qos: 2, version: 5 },
  { qos: 1, version: 4 },
  { qos: 2, version: 4 },
] as const;

describe.each(RUNS)('flow control at QoS $qos, publishers on MQTT $version', ({ qos, version }) => {
  it('10 publishers at full speed, one subscriber acknowledging slowly: nothing is lost, and the publishers were held back', async () => {
    t = await startBroker(LIMITS);
    const broker = t.broker;
    const sub = await slowSubscriber('fan/#', qos, 1);
    const names = Array.from({ length: 10 }, (_, i) => `p${i}`);
    const publishers = await Promise.all(names.map(() => (t as TestBroker).client({ protocolVersion: version })));
    let maxQueued = 0;
    let maxHeld = 0;
    const probe = setInterval(() => {
      maxQueued = Math.max(maxQueued, broker.session(sub.client.options.clientId as string)?.queued ?? 0);
      maxHeld = Math.max(maxHeld, broker.flowStatus().publishersHeld);
    }, 5);
    const count = 150;
    try {
      const runs = await Promise.all(publishers.map((p, i) => publishAll(p, names[i] as string, `fan/${i}`, count, qos, 10)));
      await until(() => sub.received.length >= names.length * count, 'every message to arrive', 30_000);
      expect(missing(sub.received, names, count)).toEqual([]);
      expect(broker.stats.dropped['queue-full'] ?? 0).toBe(0);
      // The publishers were slowed: acknowledgements were withheld, several publishers at once
      expect(broker.flowStatus().acknowledgementsHeldTotal).toBeGreaterThan(0);
      expect(maxHeld).toBeGreaterThan(1);
      expect(Math.max(...runs.map((r) => r.longestAckMs))).toBeGreaterThan(5);
      // The queue stayed within twice its bound (100)
      expect(maxQueued).toBeLessThanOrEqual(200);
    } finally {
      clearInterval(probe);
    }
    await until(() => broker.flowStatus().publishersHeld === 0, 'every publisher to be let go');
    expect(broker.flowStatus().acknowledgementsHeld).toBe(0);
  }, 60_000);
});

describe('flow control: who is held back, and until when', () => {
  it('a subscriber that never acknowledges is stalled 1 s after its first delivery and holds nobody back after that; its overflow is dropped and counted', async () => {
    t = await startBroker({ ...LIMITS, stallTimeout: 60_000 });
    const stalled = await slowSubscriber('iso/#', 1, 0, {}, () => true);
    const healthy = await t.client({ protocolVersion: 5 });
    const got = collect(healthy);
    await healthy.subscribeAsync('iso/#', { qos: 1 });
    const pub = await t.client({ protocolVersion: 5 });
    await publishAll(pub, 'p', 'iso/t', 500, 1, 10);
    const heldFirst = t.broker.flowStatus().acknowledgementsHeldTotal;
    expect(heldFirst).toBeLessThanOrEqual(10); // at most one window, until the first acknowledgement was overdue
    const started = Date.now();
    await publishAll(pub, 'q', 'iso/t', 500, 1, 10);
    await got.waitFor(1000, 10_000);
    expect(t.broker.flowStatus().acknowledgementsHeldTotal).toBe(heldFirst); // never held again
    expect(Date.now() - started).toBeLessThan(5000);
    expect(stalled.received.length).toBeLessThan(1000);
    expect(t.broker.stats.dropped['queue-full']).toBeGreaterThan(0);
  }, 30_000);

  it('a subscriber that consumed and then stalls lets its publishers go after stallTimeout', async () => {
    t = await startBroker({ ...LIMITS, stallTimeout: 1000 });
    let stop = false;
    const sub = await slowSubscriber('st/#', 1, 0, {}, () => stop);
    const pub = await t.client({ protocolVersion: 5 });
    await publishAll(pub, 'warm', 'st/t', 20, 1, 5); // acknowledged: the subscriber is consuming
    await until(() => sub.received.length === 20, 'the warm-up messages');
    stop = true;
    const started = Date.now();
    await publishAll(pub, 'p', 'st/t', 400, 1, 10);
    const elapsed = Date.now() - started;
    expect(t.broker.flowStatus().acknowledgementsHeldTotal).toBeGreaterThan(0); // held while it still counted as consuming
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(t.broker.stats.dropped['queue-full']).toBeGreaterThan(0); // then its queue followed queueOverflow
    expect(t.broker.flowStatus().publishersHeld).toBe(0);
  }, 30_000);

  it('a publisher that does not feed the full queue is not held back; /metrics and $SYS show the hold', async () => {
    t = await startBroker({ ...LIMITS, stallTimeout: 60_000, sysInterval: 1 });
    let stop = false;
    const slow = await slowSubscriber('a/#', 1, 0, {}, () => stop);
    const fast = await t.client({ protocolVersion: 5 });
    const got = collect(fast);
    await fast.subscribeAsync('b/#', { qos: 1 });
    const p1 = await t.client({ protocolVersion: 5, clientId: 'feeds-a' });
    await publishAll(p1, 'warm', 'a/x', 5, 1, 1);
    await until(() => slow.received.length === 5, 'the warm-up messages');
    stop = true;
    // p1 fills the slow subscriber's queue and is held (its window of 10 never clears)
    void publishAll(p1, 'a', 'a/x', 1000, 1, 10).catch(() => undefined);
    await until(() => t?.broker.flowStatus().publishersHeld === 1, 'p1 to be held');
    const p2 = await t.client({ protocolVersion: 5, clientId: 'feeds-b' });
    await publishAll(p2, 'b', 'b/y', 300, 1, 10);
    await got.waitFor(300);
    expect(t.broker.flowStatus().publishersHeld).toBe(1); // p1 still is

    const metrics = (await t.broker.metrics.text()).body;
    expect(metrics).toMatch(/^midge_publishers_held 1$/m);
    expect(metrics).toMatch(/^midge_sessions_holding 1$/m);
    expect(metrics).toMatch(new RegExp(`^midge_session_queued_messages\\{client_id="${slow.client.options.clientId}"\\} (\\d+)$`, 'm'));
    const sys = await t.client({ protocolVersion: 5 });
    const seen = new Map<string, string>();
    sys.on('message', (topic, payload) => seen.set(topic, payload.toString()));
    await sys.subscribeAsync(['$SYS/broker/publishers/held', '$SYS/broker/queues/deepest']);
    await until(() => seen.get('$SYS/broker/publishers/held') === '1', '$SYS/broker/publishers/held 1', 5000);
    const deepest = JSON.parse(seen.get('$SYS/broker/queues/deepest') ?? '[]') as { clientId: string; queued: number; holding: boolean }[];
    expect(deepest[0]).toMatchObject({ clientId: slow.client.options.clientId, holding: true });
    expect(deepest[0]?.queued).toBeGreaterThanOrEqual(100);
  }, 30_000);

  it('held publishers go when the subscriber disconnects, and a held publisher that disconnects leaves no hold behind', async () => {
    t = await startBroker({ ...LIMITS, stallTimeout: 60_000 });
    let stop = false;
    const slow = await slowSubscriber('d/#', 1, 0, { clientId: 'slow', clean: false, properties: { sessionExpiryInterval: 60 } }, () => stop);
    const p1 = await t.client({ protocolVersion: 5, clientId: 'p1' });
    await publishAll(p1, 'warm', 'd/x', 5, 1, 1);
    await until(() => slow.received.length === 5, 'the warm-up messages');
    stop = true;
    const run = publishAll(p1, 'a', 'd/x', 300, 1, 10);
    await until(() => t?.broker.flowStatus().publishersHeld === 1, 'p1 to be held');
    await slow.client.endAsync(true);
    await run; // the subscriber is offline: its queue holds nobody back (the rest follows queueOverflow)
    expect(t.broker.flowStatus()).toMatchObject({ publishersHeld: 0, acknowledgementsHeld: 0 });

    const warm = await t.client({ protocolVersion: 5, clientId: 'p2' });
    stop = false;
    const consuming = await slowSubscriber('f/#', 1, 0, {}, () => stop);
    await publishAll(warm, 'warm', 'f/x', 5, 1, 1);
    await until(() => consuming.received.length === 5, 'the warm-up messages');
    stop = true;
    void publishAll(warm, 'f', 'f/x', 300, 1, 10).catch(() => undefined);
    await until(() => t?.broker.flowStatus().publishersHeld === 1, 'p2 to be held');
    await warm.endAsync(true);
    await until(() => t?.broker.flowStatus().publishersHeld === 0, 'the hold of p2 to be dropped');
    expect(t.broker.flowStatus().acknowledgementsHeld).toBe(0);
  }, 30_000);

  it('a client that publishes to a topic it subscribes to, acknowledging slowly, gets every message and every acknowledgement', async () => {
    t = await startBroker(LIMITS);
    const self = await slowSubscriber('loop/#', 1, 1);
    const other = await t.client({ protocolVersion: 5 });
    await Promise.all([publishAll(self.client, 'self', 'loop/a', 300, 1, 10), publishAll(other, 'other', 'loop/b', 300, 1, 10)]);
    await until(() => self.received.length >= 600, 'every message', 30_000);
    expect(missing(self.received, ['self', 'other'], 300)).toEqual([]);
    expect(t.broker.stats.dropped['queue-full'] ?? 0).toBe(0);
  }, 60_000);

  it('stallTimeout 0 turns flow control off: a full queue drops as before', async () => {
    t = await startBroker({ ...LIMITS, stallTimeout: 0 });
    const sub = await slowSubscriber('off/#', 1, 1);
    const pub = await t.client({ protocolVersion: 5 });
    await publishAll(pub, 'p', 'off/t', 400, 1, 200);
    await until(() => t?.broker.session(sub.client.options.clientId as string)?.queued === 0, 'the queue to drain', 20_000);
    expect(t.broker.flowStatus().acknowledgementsHeldTotal).toBe(0);
    expect(t.broker.stats.dropped['queue-full']).toBeGreaterThan(0);
  }, 30_000);
});
