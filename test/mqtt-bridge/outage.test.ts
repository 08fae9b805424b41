/**
 * Outage tests with a real Mosquitto as the remote and Midge as a child process (LevelDB store,
 * fsync): a backlog built while the remote is down survives kill -9 of Midge and is delivered in
 * order once the remote is back; QoS 2 stays exactly-once across a kill -9 in the middle of
 * forwarding.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, connected, Lab, until, type BrokerProcess } from '../crash/helpers.js';
import { Mosquitto, MOSQUITTO } from './mosquitto.js';

if (MOSQUITTO === undefined) console.warn('SKIPPED: MQTT bridge outage tests: mosquitto is not installed (apt-get install mosquitto)');

const lab = new Lab();
const remotes: Mosquitto[] = [];
afterEach(async () => {
  await lab.cleanup();
  for (const m of remotes.splice(0)) await m.destroy();
});
beforeAll(() => assertBuilt());

/** A Midge config file with one bridge `cloud` forwarding data/# to the remote as cloud/data/#. */
function bridgeConfig(dir: string, remote: Mosquitto, qos: 1 | 2): string {
  const file = path.join(dir, 'midge.json');
  const topics = [{ filter: 'data/#', direction: 'out', qos, remotePrefix: 'cloud/' }];
  writeFileSync(file, JSON.stringify({ bridges: [{ name: 'cloud', url: remote.url, reconnectDelay: 100, reconnectDelayMax: 400, topics }] }));
  return file;
}

function logged(broker: BrokerProcess, msg: string): number {
  return broker.logs().filter((l) => l.msg === msg).length;
}

/** A persistent subscriber session on the remote, made before the outage (Mosquitto then queues for it). */
async function collectorSession(remote: Mosquitto): Promise<void> {
  const c = await lab.connectMqtt(remote.port, { clientId: 'collector', clean: false });
  await c.subscribeAsync('cloud/data/#', { qos: 2 });
  await c.endAsync();
}

/** Reconnects the collector and gathers payloads until `count` distinct ones arrived. */
async function collect(remote: Mosquitto, count: number, timeoutMs: number): Promise<{ payloads: number[]; client: MqttClient }> {
  const client = lab.mqtt(remote.port, { clientId: 'collector', clean: false });
  const payloads: number[] = [];
  const seen = new Set<number>();
  client.on('message', (_topic, payload) => {
    const n = Number(payload.toString());
    payloads.push(n);
    seen.add(n);
  });
  await connected(client);
  await until(() => seen.size >= count, `${count} messages at the remote (have ${seen.size})`, timeoutMs);
  return { payloads, client };
}

async function publishAll(port: number, count: number, qos: 1 | 2): Promise<void> {
  const pub = await lab.connectMqtt(port, { protocolVersion: 5 });
  // In windows of 50, within Midge's Receive Maximum (100)
  for (let from = 0; from < count; from += 50) {
    const acks: Promise<unknown>[] = [];
    for (let i = from; i < Math.min(count, from + 50); i++) acks.push(pub.publishAsync(`data/${i % 10}`, String(i), { qos }));
    await Promise.all(acks);
  }
  await pub.endAsync();
}

const REMOTE = 'persistence true\nmax_queued_messages 0\nmax_inflight_messages 0';

describe.skipIf(MOSQUITTO === undefined)('MQTT bridge outage (Mosquitto remote, Midge killed with -9)', () => {
  it('5,000 QoS 1 messages published while the remote is down survive kill -9 and arrive in order', { timeout: 120_000 }, async () => {
    const remote = await Mosquitto.start(REMOTE);
    remotes.push(remote);
    await collectorSession(remote);
    const dataDir = lab.dataDir();
    const config = bridgeConfig(path.dirname(dataDir), remote, 1);
    const midge = await lab.start(dataDir, { extra: ['--config', config] });
    await until(() => logged(midge, 'mqtt bridge connected') === 1, 'the bridge to connect', 10_000);

    await remote.stop(); // the outage
    await until(() => logged(midge, 'mqtt bridge down') >= 1, 'the bridge to see the outage', 10_000);
    await publishAll(midge.port, 5000, 1); // every one acknowledged by Midge

    const restarted = await lab.crashAndRestart(midge);
    await remote.restart();
    await until(() => logged(restarted, 'mqtt bridge connected') >= 1, 'the bridge to reconnect', 20_000);
    const { payloads } = await collect(remote, 5000, 60_000);
    expect(payloads.length).toBe(5000); // nothing twice: nothing was in flight at the kill
    expect(payloads).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(lab.brokerErrors()).toEqual([]);
  });

  it('QoS 2: a kill -9 while the backlog drains to the remote loses nothing and duplicates nothing', { timeout: 120_000 }, async () => {
    const remote = await Mosquitto.start(REMOTE);
    remotes.push(remote);
    await collectorSession(remote);
    const dataDir = lab.dataDir();
    const config = bridgeConfig(path.dirname(dataDir), remote, 2);
    const midge = await lab.start(dataDir, { extra: ['--config', config] });
    await until(() => logged(midge, 'mqtt bridge connected') === 1, 'the bridge to connect', 10_000);
    await remote.stop();
    await until(() => logged(midge, 'mqtt bridge down') >= 1, 'the bridge to see the outage', 10_000);
    await publishAll(midge.port, 3000, 2);

    await remote.restart();
    // Watch the remote's side: kill Midge once part of the backlog has gone through
    const watcher = await lab.connectMqtt(remote.port, { clientId: 'watcher' });
    let forwarded = 0;
    watcher.on('message', () => forwarded++);
    await watcher.subscribeAsync('cloud/data/#', { qos: 0 });
    await until(() => forwarded >= 500, "part of the backlog at the remote", 30_000);
    const restarted = await lab.crashAndRestart(midge);
    expect(forwarded).toBeLessThan(3000);
    await until(() => logged(restarted, 'mqtt bridge connected') >= 1, 'the bridge to reconnect', 20_000);
    const { payloads } = await collect(remote, 3000, 60_000);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would arrive now
    expect(payloads).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(lab.brokerErrors()).toEqual([]);
  });
});
