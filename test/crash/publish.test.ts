/**
 * Publisher side of durability: a message the broker acknowledged (PUBACK, PUBREC) survives any
 * number of kill -9s, QoS 2 is delivered exactly once even when the publisher resends after a
 * crash, and each QoS level keeps its order.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it, expect, afterEach } from 'vitest';
import { assertBuilt, connected, Lab, prng, seedFrom, sleep, until, type BrokerProcess, type RunOptions } from './helpers.js';
import { parsePayload, publishThroughCrashes, type PublishRun } from './publisher.js';

const lab = new Lab();
afterEach(() => lab.cleanup());

const SUBSCRIBER = 'crash-subscriber';
const PUBLISHER = 'crash-publisher';
const PREFIX = 'crash';
const SESSION = { clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } } as const;

interface Received {
  qos: 1 | 2;
  seq: number;
  dup: boolean;
}

/**
 * Kill moments, in acknowledgements received plus 0-5 ms: one in the QoS 1 half, the rest in the
 * QoS 2 half, where every message brings two acknowledgements (PUBREC, PUBCOMP).
 */
function killPlan(seed: number, count: number, kills: number): { acks: number; delayMs: number }[] {
  const rand = prng(seed);
  const points = new Set<number>();
  const between = (lo: number, hi: number) => Math.floor(lo + rand() * (hi - lo));
  points.add(between(count * 0.1, count * 0.9));
  for (let tries = 0; points.size < kills && tries < 100; tries++) points.add(between(count * 1.1, count * 2.9));
  return [...points].sort((a, b) => a - b).map((acks) => ({ acks, delayMs: between(0, 5) }));
}

/** Opens the subscriber's persistent session (QoS 2 on everything under the prefix) and leaves. */
async function persistentSubscriber(broker: BrokerProcess): Promise<void> {
  const sub = await lab.connectMqtt(broker.port, { clientId: SUBSCRIBER, ...SESSION });
  const granted = await sub.subscribeAsync(`${PREFIX}/#`, { qos: 2 });
  expect(granted.map((g) => g.qos)).toEqual([2]);
  await sub.endAsync();
}

/** Resumes the subscriber's session and reads until both levels are complete and the broker is quiet. */
async function drain(broker: BrokerProcess, count: number): Promise<Received[]> {
  const received: Received[] = [];
  const client = lab.mqtt(broker.port, { clientId: SUBSCRIBER, ...SESSION });
  client.on('message', (_topic, payload, packet) => received.push({ ...parsePayload(payload), dup: packet.dup }));
  const connack = await connected(client);
  expect(connack.sessionPresent, 'subscriber session restored').toBe(true);
  const distinct = (qos: 1 | 2) => new Set(received.filter((r) => r.qos === qos).map((r) => r.seq)).size;
  await until(() => distinct(1) >= count && distinct(2) >= count, `all ${2 * count} messages (have ${received.length})`, 10_000).catch(() => undefined);
  // Duplicates, if any, would come right behind: give them a moment, then stop reading
  for (let quiet = 0, last = -1; quiet < 3; quiet = received.length === last ? quiet + 1 : 0) {
    last = received.length;
    await sleep(100);
  }
  await client.endAsync();
  return received;
}

/** Checks the drained stream against what the publisher was told. */
function checkDelivery(run: PublishRun, received: Received[], count: number): void {
  expect(run.badReasonCodes, 'acknowledgements with a failure or no-subscriber reason code').toEqual([]);
  const q1 = received.filter((r) => r.qos === 1).map((r) => r.seq);
  const q2 = received.filter((r) => r.qos === 2).map((r) => r.seq);
  const got1 = new Set(q1);
  const got2 = new Set(q2);
  const lost = run.messages.filter((m) => m.acknowledged && !(m.qos === 1 ? got1 : got2).has(m.seq)).map((m) => `q${m.qos}:${m.seq}`);
  expect(lost, 'acknowledged messages lost').toEqual([]);
  expect(run.messages.every((m) => m.complete)).toBe(true);
  expect(got1.size, 'distinct QoS 1 messages').toBe(count);
  // QoS 2: exactly once, in order [MQTT-4.3.3] [MQTT-4.6.0-6]
  const q2Duplicates = q2.filter((seq, i) => q2.indexOf(seq) !== i);
  expect(q2Duplicates, 'QoS 2 duplicates').toEqual([]);
  expect(q2, 'QoS 2 order').toEqual([...Array(count).keys()]);
  // QoS 1: at least once; a duplicate only for a message resent after a crash, and first copies in order
  const resent = new Set(run.messages.filter((m) => m.qos === 1 && m.resent).map((m) => m.seq));
  const seen = new Set<number>();
  const firsts: number[] = [];
  const unexplained: number[] = [];
  for (const seq of q1) {
    if (!seen.has(seq)) {
      seen.add(seq);
      firsts.push(seq);
    } else if (!resent.has(seq)) {
      unexplained.push(seq);
    }
  }
  expect(unexplained, 'QoS 1 duplicates of messages that were never resent').toEqual([]);
  expect(firsts, 'QoS 1 order of first deliveries').toEqual([...Array(count).keys()]);
  expect(q1.length - got1.size, 'QoS 1 duplicates beyond the resends').toBeLessThanOrEqual(resent.size);
}

async function crashWhilePublishing(options: RunOptions, count: number, kills: number, seed: number): Promise<PublishRun> {
  assertBuilt();
  const broker = await lab.start(lab.dataDir(), options);
  await persistentSubscriber(broker);
  const plan = killPlan(seed, count, kills);
  const run = await publishThroughCrashes(lab, broker, { clientId: PUBLISHER, count, prefix: PREFIX, window: 32, kills: plan });
  expect(run.crashes, `kills ${JSON.stringify(plan)}`).toBe(kills);
  // One more kill with everything sitting in the subscriber's queue
  run.broker = await lab.crashAndRestart(run.broker);
  const received = await drain(run.broker, count);
  checkDelivery(run, received, count);
  expect(lab.brokerErrors()).toEqual([]);
  return run;
}

describe('kill -9 while publishing', () => {
  it('fsync: every acknowledged QoS 1/2 message is delivered, QoS 2 exactly once, in order', async () => {
    const seed = seedFrom(20240611);
    const run = await crashWhilePublishing({ durability: 'fsync' }, 300, 3, seed);
    // The kills must have caught messages in flight, or the test proves nothing
    expect(run.resentPublishes + run.resentPubrels).toBeGreaterThan(0);
  }, 45_000);

  it('batch: kill -9 loses no acknowledged message (unsynced writes are in the page cache)', async () => {
    await crashWhilePublishing({ durability: 'batch' }, 100, 2, seedFrom(7));
  }, 30_000);

  it('fsync with queue paging: a queue mostly on disk survives the kills, in order', async () => {
    // A page of 40: most of the subscriber's queue lives only in the store, and is read back as it drains
    const config = path.join(lab.tempDir(), 'midge.json');
    writeFileSync(config, JSON.stringify({ queuePageSize: 40 }));
    await crashWhilePublishing({ durability: 'fsync', extra: ['--config', config] }, 200, 3, seedFrom(99));
  }, 30_000);

  it('none: the broker restarts cleanly on its data directory after kill -9', async () => {
    assertBuilt();
    const dataDir = lab.dataDir();
    let broker = await lab.start(dataDir, { durability: 'none' });
    await persistentSubscriber(broker);
    const pub = await lab.connectMqtt(broker.port, { clientId: 'none-publisher' });
    for (let seq = 0; seq < 50; seq++) await pub.publishAsync(`${PREFIX}/q1`, `q1:${String(seq).padStart(6, '0')}`, { qos: 1 });
    broker = await lab.crashAndRestart(broker);
    broker = await lab.crashAndRestart(broker);
    // Acknowledgements do not wait for a commit here, so only a clean start is promised: the session and
    // whatever reached the store come back, and the broker serves
    const received = await drain(broker, 0);
    const seqs = received.map((r) => r.seq);
    expect(received.every((r) => r.qos === 1 && r.seq < 50)).toBe(true);
    expect(seqs, 'what came back is in order, without duplicates').toEqual([...new Set(seqs)].sort((a, b) => a - b));
    const after = await lab.connectMqtt(broker.port, { clientId: 'none-after' });
    await after.publishAsync(`${PREFIX}/q1`, 'q1:000099', { qos: 1 });
    expect(lab.brokerErrors()).toEqual([]);
  }, 20_000);
});
