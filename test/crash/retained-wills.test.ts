/**
 * Retained messages and wills across kill -9: the retained set is exactly what it was, and a
 * client that was connected when the broker died lost its connection without DISCONNECT, so its
 * will is published after the restart [MQTT-3.1.2-8] — once.
 */
import { describe, it, expect, afterEach } from 'vitest';
import type { IPublishPacket } from 'mqtt';
import { assertBuilt, connected, Lab, sleep, until, type BrokerProcess } from './helpers.js';

const lab = new Lab();
afterEach(() => lab.cleanup());

const WILL = { qos: 1, retain: true } as const;

/** What a fresh subscriber to `filter` receives within `quietMs` of the last message (retained ones, mostly). */
async function snapshot(broker: BrokerProcess, filter: string, expected: number, quietMs = 300): Promise<Record<string, string>> {
  const client = await lab.connectMqtt(broker.port, { clientId: `snapshot-${Math.random().toString(16).slice(2)}`, protocolVersion: 5 });
  const got: IPublishPacket[] = [];
  client.on('message', (_t, _p, packet) => got.push(packet));
  await client.subscribeAsync(filter, { qos: 1 });
  await until(() => got.length >= expected, `${expected} messages on ${filter}`, 3000).catch(() => undefined);
  await sleep(quietMs);
  await client.endAsync();
  const out: Record<string, string> = {};
  for (const p of got) {
    const key = p.topic in out ? `${p.topic} (again)` : p.topic;
    out[key] = `${p.payload.toString()} q${p.qos}${p.retain ? ' retained' : ''}`;
  }
  return out;
}

/** A raw MQTT 5 client that stays connected with a will until the broker is killed under it. */
async function connectWithWill(broker: BrokerProcess, clientId: string, topic: string, extra: Record<string, unknown> = {}): Promise<void> {
  const wire = await lab.wire(broker.port, 5);
  await wire.connect(clientId, { clean: false, properties: { sessionExpiryInterval: 300 }, will: { topic, payload: Buffer.from(`${clientId} gone`), ...WILL }, ...extra });
  await wire.barrier(1); // its session, will included, is committed
}

describe('kill -9 and retained messages', () => {
  it('[MQTT-3.3.1-5] [MQTT-3.3.1-10] retained messages set, replaced and cleared before the kill are as they were', async () => {
    assertBuilt();
    let broker = await lab.start(lab.dataDir());
    const pub = await lab.connectMqtt(broker.port, { clientId: 'retainer', protocolVersion: 5 });
    await pub.publishAsync('ret/a', 'A1', { qos: 1, retain: true });
    await pub.publishAsync('ret/b', 'B1', { qos: 1, retain: true });
    await pub.publishAsync('ret/a', 'A2', { qos: 1, retain: true });
    await pub.publishAsync('ret/c', 'C1', { qos: 1, retain: true });
    await pub.publishAsync('ret/c', '', { qos: 1, retain: true }); // clears ret/c
    await pub.publishAsync('ret/d', 'D0', { qos: 0, retain: true });
    await pub.publishAsync('ret/e', 'E2', { qos: 2, retain: true });
    await pub.publishAsync('ret/barrier', 'x', { qos: 1 }); // commits in order: the QoS 0 one is stored too
    const expected = { 'ret/a': 'A2 q1 retained', 'ret/b': 'B1 q1 retained', 'ret/d': 'D0 q0 retained', 'ret/e': 'E2 q1 retained' };
    expect(await snapshot(broker, 'ret/#', 4)).toEqual(expected);
    broker = await lab.crashAndRestart(broker);
    expect(await snapshot(broker, 'ret/#', 4), 'after the first kill').toEqual(expected);
    // Changes after a restart are durable too
    const again = await lab.connectMqtt(broker.port, { clientId: 'retainer', protocolVersion: 5 });
    await again.publishAsync('ret/b', '', { qos: 1, retain: true });
    await again.publishAsync('ret/f', 'F1', { qos: 1, retain: true });
    broker = await lab.crashAndRestart(broker);
    const { 'ret/b': _cleared, ...kept } = expected;
    expect(await snapshot(broker, 'ret/#', 4), 'after the second kill').toEqual({ ...kept, 'ret/f': 'F1 q1 retained' });
    expect(lab.brokerErrors()).toEqual([]);
  });
});

describe('kill -9 and wills', () => {
  it('[MQTT-3.1.2-8] the will (QoS 1, retain) of a client connected at the kill is published after the restart', async () => {
    assertBuilt();
    let broker = await lab.start(lab.dataDir());
    await connectWithWill(broker, 'will-persistent', 'will/persistent');
    broker = await lab.crashAndRestart(broker);
    expect(await snapshot(broker, 'will/#', 1)).toEqual({ 'will/persistent': 'will-persistent gone q1 retained' });
    expect(lab.brokerErrors()).toEqual([]);
  });

  it('[MQTT-3.1.2-8] the will of a clean-session client connected at the kill is published after the restart', async () => {
    assertBuilt();
    let broker = await lab.start(lab.dataDir());
    // MQTT 3.1.1 clean session: the session ends with the connection, the will does not
    const wire = await lab.wire(broker.port, 4);
    await wire.connect('will-clean', { clean: true, will: { topic: 'will/clean', payload: Buffer.from('will-clean gone'), ...WILL } });
    await wire.barrier(1);
    broker = await lab.crashAndRestart(broker);
    expect(await snapshot(broker, 'will/#', 1)).toEqual({ 'will/clean': 'will-clean gone q1 retained' });
  });

  it('[MQTT-3.1.2-8] the will of a client that had resumed its session is published after the restart', async () => {
    assertBuilt();
    let broker = await lab.start(lab.dataDir());
    const before = await lab.wire(broker.port, 5);
    await before.connect('will-resumed', { clean: false, properties: { sessionExpiryInterval: 300 } });
    before.send({ cmd: 'disconnect', reasonCode: 0 });
    await before.closed;
    await sleep(50);
    // Back with a will, on the session it left (session present), then the broker dies
    await connectWithWill(broker, 'will-resumed', 'will/resumed');
    broker = await lab.crashAndRestart(broker);
    expect(await snapshot(broker, 'will/#', 1)).toEqual({ 'will/resumed': 'will-resumed gone q1 retained' });
  });

  it('a will published after a restart is not published again after a second kill', async () => {
    assertBuilt();
    let broker = await lab.start(lab.dataDir());
    // A persistent subscriber counts every publication of the will
    const watcherSession = { clientId: 'will-watcher', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } } as const;
    const watcher = await lab.connectMqtt(broker.port, watcherSession);
    await watcher.subscribeAsync('will/#', { qos: 1, rap: true });
    await watcher.endAsync();
    await connectWithWill(broker, 'will-once', 'will/once');
    broker = await lab.crashAndRestart(broker);

    const seen: string[] = [];
    const resume = async () => {
      const client = lab.mqtt(broker.port, watcherSession);
      client.on('message', (topic, payload) => seen.push(`${topic} ${payload.toString()}`));
      expect((await connected(client)).sessionPresent).toBe(true);
      return client;
    };
    let client = await resume();
    await until(() => seen.length >= 1, 'the will after the first restart', 3000);
    await client.publishAsync('will-test/barrier', 'x', { qos: 1 }); // its PUBACK for the will is committed
    await client.endAsync();
    broker = await lab.crashAndRestart(broker);
    client = await resume();
    await sleep(500);
    expect(seen).toEqual(['will/once will-once gone']);
  });
});
