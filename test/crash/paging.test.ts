/**
 * Queue paging across kill -9: with the LevelDB store a session keeps about one page of its queue in
 * memory and the rest only on disk; after a restart the on-disk part must come back complete and in
 * order, also when new messages join the queue before it drains.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it, expect, afterEach } from 'vitest';
import { assertBuilt, connected, Lab, sleep, until, type BrokerProcess } from './helpers.js';

const lab = new Lab();
afterEach(() => lab.cleanup());

const PAGE = 40;
const SUBSCRIBER = { clientId: 'paged-subscriber', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } } as const;

async function startPaged(): Promise<BrokerProcess> {
  const config = path.join(lab.tempDir(), 'midge.json');
  writeFileSync(config, JSON.stringify({ queuePageSize: PAGE }));
  return lab.start(lab.dataDir(), { extra: ['--config', config] });
}

/** Publishes `from`..`to - 1` at QoS 1, one PUBACK (commit) at a time. */
async function publishRange(broker: BrokerProcess, from: number, to: number): Promise<void> {
  const pub = await lab.connectMqtt(broker.port, { clientId: 'paged-publisher', protocolVersion: 5 });
  for (let i = from; i < to; i++) await pub.publishAsync('paged/t', String(i), { qos: 1 });
  await pub.endAsync();
}

/** Resumes the subscriber and reads until `count` messages arrived and the broker is quiet. */
async function drain(broker: BrokerProcess, count: number): Promise<number[]> {
  const got: number[] = [];
  const client = lab.mqtt(broker.port, SUBSCRIBER);
  client.on('message', (_t, payload) => got.push(Number(payload.toString())));
  expect((await connected(client)).sessionPresent).toBe(true);
  await until(() => got.length >= count, `${count} messages (have ${got.length})`, 3000).catch(() => undefined);
  await sleep(200);
  return got;
}

describe('kill -9 with a queue paged to disk', () => {
  it('[MQTT-4.6.0-6] a queue larger than a page comes back complete and in order after kill -9', async () => {
    assertBuilt();
    let broker = await startPaged();
    const sub = await lab.connectMqtt(broker.port, SUBSCRIBER);
    await sub.subscribeAsync('paged/#', { qos: 1 });
    await sub.endAsync();
    await publishRange(broker, 0, 3 * PAGE);
    broker = await lab.crashAndRestart(broker);
    expect(await drain(broker, 3 * PAGE)).toEqual([...Array(3 * PAGE).keys()]);
  });

  it('[MQTT-4.6.0-6] messages queued after a restart go behind the on-disk backlog, which stays intact', async () => {
    assertBuilt();
    let broker = await startPaged();
    const sub = await lab.connectMqtt(broker.port, SUBSCRIBER);
    await sub.subscribeAsync('paged/#', { qos: 1 });
    await sub.endAsync();
    // 0..39 are the page restored into memory, 40..59 stay on disk
    await publishRange(broker, 0, PAGE + 20);
    broker = await lab.crashAndRestart(broker);
    // New deliveries must take sequence numbers after the on-disk ones, not overwrite them
    await publishRange(broker, PAGE + 20, PAGE + 30);
    expect(await drain(broker, PAGE + 30)).toEqual([...Array(PAGE + 30).keys()]);
    expect(lab.brokerErrors()).toEqual([]);
  });
});
