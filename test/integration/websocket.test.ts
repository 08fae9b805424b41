import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closed, collect, sleep, startBroker, type TestBroker } from '../helpers/broker.js';

let t: TestBroker;
afterEach(async () => t?.close());

const LEVELS = [4, 5] as const;

describe.each(LEVELS)('MQTT over WebSocket (level %i)', (protocolVersion) => {
  it.each([0, 1, 2] as const)('QoS %i end to end between two WebSocket clients', async (qos) => {
    t = await startBroker();
    const sub = await t.client({ protocolVersion, ws: true });
    const got = collect(sub);
    await sub.subscribeAsync('ws/t', { qos: 2 });
    const pub = await t.client({ protocolVersion, ws: true });
    await pub.publishAsync('ws/t', `over ws at ${qos}`, { qos });
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'ws/t', payload: `over ws at ${qos}` });
    expect(got.messages[0]?.packet.qos).toBe(qos);
  });

  it('WebSocket and TCP clients exchange messages both ways', async () => {
    t = await startBroker();
    const wsClient = await t.client({ protocolVersion, ws: true });
    const tcpClient = await t.client({ protocolVersion });
    const gotWs = collect(wsClient);
    const gotTcp = collect(tcpClient);
    await wsClient.subscribeAsync('to/ws', { qos: 1 });
    await tcpClient.subscribeAsync('to/tcp', { qos: 1 });
    await tcpClient.publishAsync('to/ws', 'from tcp', { qos: 1 });
    await wsClient.publishAsync('to/tcp', 'from ws', { qos: 1 });
    await Promise.all([gotWs.waitFor(1), gotTcp.waitFor(1)]);
    expect(gotWs.messages[0]?.payload).toBe('from tcp');
    expect(gotTcp.messages[0]?.payload).toBe('from ws');
  });

  it('a persistent session over WebSocket gets its offline QoS 1 messages and retained messages', async () => {
    t = await startBroker();
    const opts = { protocolVersion, ws: true, clientId: `ws-durable-${protocolVersion}`, clean: false, properties: protocolVersion === 5 ? { sessionExpiryInterval: 60 } : undefined };
    const first = await t.client(opts);
    await first.subscribeAsync('wsq/#', { qos: 1 });
    await first.endAsync();
    while (t.broker.clientCount > 0) await sleep(10);
    const pub = await t.client({ protocolVersion });
    await pub.publishAsync('wsq/a', 'queued', { qos: 1 });
    await pub.publishAsync('wsr/state', 'kept', { qos: 1, retain: true });
    const back = t.open(opts);
    const got = collect(back);
    await got.waitFor(1);
    await back.subscribeAsync('wsr/state', { qos: 1 });
    await got.waitFor(2);
    expect(got.messages.map((m) => [m.payload, m.packet.retain])).toEqual([
      ['queued', false],
      ['kept', true],
    ]);
  });

  it('the will is published when a WebSocket client drops', async () => {
    t = await startBroker();
    const watcher = await t.client({ protocolVersion });
    const got = collect(watcher);
    await watcher.subscribeAsync('ws/will', { qos: 1 });
    const dev = await t.client({ protocolVersion, ws: true, will: { topic: 'ws/will', payload: Buffer.from('ws gone'), qos: 1, retain: false } });
    const gone = closed(dev);
    dev.stream.destroy();
    await gone;
    await got.waitFor(1);
    expect(got.messages[0]?.payload).toBe('ws gone');
  });
});

describe('WebSocket listener', () => {
  it('answers a plain HTTP request with 426 and upgrades only on its path', async () => {
    t = await startBroker();
    const status = await new Promise<number | undefined>((resolve, reject) => {
      http.get(`http://127.0.0.1:${t.wsPort}/mqtt`, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on('error', reject);
    });
    expect(status).toBe(426);
    const wrongPath = new WebSocket(`ws://127.0.0.1:${t.wsPort}/elsewhere`, 'mqtt');
    const outcome = await new Promise<string>((resolve) => {
      wrongPath.on('open', () => resolve('open'));
      wrongPath.on('error', () => resolve('refused'));
    });
    wrongPath.terminate();
    expect(outcome).toBe('refused');
  });
});
