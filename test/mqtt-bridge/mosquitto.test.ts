/**
 * Interoperability with a real Mosquitto: Midge bridging to Mosquitto (out, in and both, QoS 0/1/2,
 * MQTT 3.1.1 with the bridge bit and MQTT 5 with No Local), and Mosquitto bridging to Midge with a
 * `connection` block, where Midge honours the bridge bit (no echo).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';
import { Mosquitto, MOSQUITTO } from './mosquitto.js';

if (MOSQUITTO === undefined) console.warn('SKIPPED: MQTT bridge tests against Mosquitto: mosquitto is not installed (apt-get install mosquitto)');

const opened: TestBroker[] = [];
const remotes: Mosquitto[] = [];
const clients: MqttClient[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  for (const b of opened.splice(0)) await b.close();
  for (const m of remotes.splice(0)) await m.destroy();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function client(url: string, protocolVersion: 4 | 5 = 5): Promise<{ c: MqttClient; got: IPublishPacket[] }> {
  const c = await mqtt.connectAsync(url, { protocolVersion, reconnectPeriod: 0 });
  clients.push(c);
  const got: IPublishPacket[] = [];
  c.on('message', (_t, _p, packet) => got.push(packet));
  return { c, got };
}

const summary = (got: IPublishPacket[]) => got.map((p) => `${p.topic}=${p.payload.toString()}@${p.qos}`).sort();

describe.skipIf(MOSQUITTO === undefined)('Midge bridged to a real Mosquitto', () => {
  describe.each([4, 5] as const)('MQTT %s', (protocolVersion) => {
    it('forwards out, in and both at QoS 0, 1 and 2, with no echo', { timeout: 30_000 }, async () => {
      const remote = await Mosquitto.start();
      remotes.push(remote);
      const local = await startBroker({
        bridges: [
          {
            name: 'cloud',
            url: remote.url,
            protocolVersion,
            reconnectDelay: 50,
            topics: [
              { filter: 'up/#', direction: 'out', qos: 2 },
              { filter: 'down/#', direction: 'in', qos: 2 },
              { filter: 'chat/#', direction: 'both', qos: 2 },
            ],
          },
        ],
      });
      opened.push(local);
      await until(() => local.broker.mqttBridges.status()[0]?.state === 'connected', 'bridge connected');
      await sleep(200); // the remote subscriptions are made before the outbound side starts
      const atLocal = await client(local.url);
      const atRemote = await client(remote.url);
      await atLocal.c.subscribeAsync(['down/#', 'chat/#', 'up/#'], { qos: 2 });
      await atRemote.c.subscribeAsync(['down/#', 'chat/#', 'up/#'], { qos: 2 });
      for (const qos of [0, 1, 2] as const) {
        await atLocal.c.publishAsync(`up/${qos}`, 'u', { qos });
        await atRemote.c.publishAsync(`down/${qos}`, 'd', { qos });
        await atLocal.c.publishAsync(`chat/local/${qos}`, 'l', { qos });
        await atRemote.c.publishAsync(`chat/remote/${qos}`, 'r', { qos });
      }
      const expected = [0, 1, 2].flatMap((q) => [`up/${q}=u@${q}`, `down/${q}=d@${q}`, `chat/local/${q}=l@${q}`, `chat/remote/${q}=r@${q}`]).sort();
      await until(() => atLocal.got.length >= 12 && atRemote.got.length >= 12, 'every message on both sides', 10_000);
      await sleep(500); // an echo would arrive now
      expect(summary(atRemote.got)).toEqual(expected);
      expect(summary(atLocal.got)).toEqual(expected);
      const status = local.broker.mqttBridges.status()[0];
      expect(status?.forwardedOut).toBe(6);
      expect(status?.forwardedIn).toBe(6);
    });
  });

  it('MQTT 5: retained flag, properties and message expiry pass through both ways', { timeout: 30_000 }, async () => {
    const remote = await Mosquitto.start();
    remotes.push(remote);
    const local = await startBroker({
      bridges: [{ name: 'cloud', url: remote.url, protocolVersion: 5, reconnectDelay: 50, topics: [{ filter: 'state/#', direction: 'both', qos: 1 }] }],
    });
    opened.push(local);
    await until(() => local.broker.mqttBridges.status()[0]?.state === 'connected', 'bridge connected');
    await sleep(200);
    const properties = { userProperties: { site: 'a' }, contentType: 'text/plain', messageExpiryInterval: 300, responseTopic: 'reply/x', correlationData: Buffer.from('c1') };
    const pubL = await client(local.url);
    const pubR = await client(remote.url);
    await pubL.c.publishAsync('state/local', 'L', { qos: 1, retain: true, properties });
    await pubR.c.publishAsync('state/remote', 'R', { qos: 1, retain: true, properties });
    await sleep(500);
    // Late subscribers see both as retained messages, on both brokers
    for (const url of [local.url, remote.url]) {
      const late = await client(url);
      await late.c.subscribeAsync('state/#', { qos: 1 });
      await until(() => late.got.length === 2, `two retained messages at ${url}`);
      for (const p of late.got) {
        expect(p.retain).toBe(true);
        expect(p.properties?.userProperties).toMatchObject({ site: 'a' });
        expect(p.properties?.contentType).toBe('text/plain');
        expect(p.properties?.responseTopic).toBe('reply/x');
        expect(p.properties?.correlationData?.toString()).toBe('c1');
        expect(p.properties?.messageExpiryInterval).toBeGreaterThan(290);
        expect(p.properties?.messageExpiryInterval).toBeLessThanOrEqual(300);
      }
    }
  });
});

describe.skipIf(MOSQUITTO === undefined)('Mosquitto bridged to Midge (a connection block)', () => {
  it('Midge honours the bridge bit: nothing Mosquitto forwards comes back', { timeout: 30_000 }, async () => {
    const midge = await startBroker();
    opened.push(midge);
    const remote = await Mosquitto.start(
      [
        'connection midge',
        `address 127.0.0.1:${midge.port}`,
        'bridge_protocol_version mqttv311',
        'try_private true',
        'cleansession false',
        'remote_clientid gateway-1',
        'restart_timeout 1',
        'topic sensors/# out 1',
        'topic cmd/# in 1',
        'topic chat/# both 1',
      ].join('\n'),
    );
    remotes.push(remote);
    await until(() => midge.broker.session('gateway-1')?.subscriptions === 2, 'the Mosquitto bridge subscribed on Midge', 10_000);
    const atMidge = await client(midge.url);
    const atMosquitto = await client(remote.url);
    await atMidge.c.subscribeAsync(['sensors/#', 'cmd/#', 'chat/#'], { qos: 1 });
    await atMosquitto.c.subscribeAsync(['sensors/#', 'cmd/#', 'chat/#'], { qos: 1 });
    await atMosquitto.c.publishAsync('sensors/t', '1', { qos: 1 });
    await atMidge.c.publishAsync('cmd/valve', 'open', { qos: 1 });
    await atMosquitto.c.publishAsync('chat/from-mosquitto', 'm', { qos: 1 });
    await atMidge.c.publishAsync('chat/from-midge', 'g', { qos: 1 });
    await until(() => atMidge.got.length >= 4 && atMosquitto.got.length >= 4, 'every message on both sides', 10_000);
    await sleep(500); // an echo would arrive now
    const expected = ['chat/from-midge=g@1', 'chat/from-mosquitto=m@1', 'cmd/valve=open@1', 'sensors/t=1@1'];
    expect(summary(atMidge.got)).toEqual(expected);
    expect(summary(atMosquitto.got)).toEqual(expected);
  });
});

describe.skipIf(MOSQUITTO === undefined)('the remote limits QoS and retain (MQTT 5 CONNACK)', () => {
  it.each([
    [1, 'memory'],
    [1, 'level'],
    [0, 'level'],
  ] as const)('[MQTT-3.2.2-11] [MQTT-3.2.2-14] Maximum QoS %s and Retain Available 0 (%s store): sent at most at that QoS, without RETAIN, counted; nothing stays in flight', { timeout: 30_000 }, async (maxQos, store) => {
    const remote = await Mosquitto.start(`max_qos ${maxQos}\nretain_available false`);
    remotes.push(remote);
    const dataDir = store === 'level' ? mkdtempSync(path.join(tmpdir(), 'midge-bridge-limits-')) : undefined;
    if (dataDir !== undefined) dirs.push(dataDir);
    const local = await startBroker({
      ...(dataDir === undefined ? {} : { store: 'level', dataDir }),
      bridges: [{ name: 'cloud', url: remote.url, protocolVersion: 5, reconnectDelay: 50, topics: [{ filter: 'up/#', direction: 'out', qos: 2 }] }],
    });
    opened.push(local);
    await until(() => local.broker.mqttBridges.status()[0]?.state === 'connected', 'bridge connected');
    const atRemote = await client(remote.url);
    await atRemote.c.subscribeAsync('up/#', { qos: maxQos });
    const atLocal = await client(local.url);
    for (const qos of [0, 1, 2] as const) await atLocal.c.publishAsync(`up/${qos}`, 'u', { qos });
    await atLocal.c.publishAsync('up/kept', 'r', { qos: 1, retain: true });
    await until(() => atRemote.got.length >= 4, 'four messages at the remote');
    expect(summary(atRemote.got)).toEqual([`up/0=u@0`, `up/1=u@${Math.min(1, maxQos)}`, `up/2=u@${maxQos}`, `up/kept=r@${Math.min(1, maxQos)}`]);
    const status = local.broker.mqttBridges.status()[0];
    await until(() => local.broker.mqttBridges.status()[0]?.backlogMessages === 0, 'nothing left in flight');
    // Above the remote's Maximum QoS: QoS 1 and 2 for max_qos 0 (and the retained QoS 1), only QoS 2 for max_qos 1
    expect(status?.limited.qos).toBe(maxQos === 0 ? 3 : 1);
    expect(status?.limited.retain).toBe(1);
    expect(local.broker.mqttBridges.status()[0]?.forwardedOut).toBe(4);
    // Mosquitto kept no retained message (it has none to keep): a new subscriber gets nothing
    const late = await client(remote.url);
    await late.c.subscribeAsync('up/#', { qos: 1 });
    await sleep(300);
    expect(late.got).toEqual([]);
  });
});
