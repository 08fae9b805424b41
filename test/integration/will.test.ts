import type { IClientOptions, MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { closed, collect, connackOf, sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

let t: TestBroker;
const raws: Wire[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  await t?.close();
});

const LEVELS = [4, 5] as const;

/** Closes the client's socket without DISCONNECT, as a crash or a lost network would. */
async function kill(client: MqttClient): Promise<void> {
  const gone = closed(client);
  client.stream.destroy();
  await gone;
}

async function watcher(filter = 'will/#') {
  const w = await t.client({ protocolVersion: 5 });
  const got = collect(w);
  await w.subscribeAsync(filter, { qos: 2 });
  return got;
}

function will(extra: Partial<NonNullable<IClientOptions['will']>> = {}): NonNullable<IClientOptions['will']> {
  return { topic: 'will/dev', payload: Buffer.from('offline'), qos: 1, retain: false, ...extra };
}

describe.each(LEVELS)('will message (level %i)', (protocolVersion) => {
  it('[MQTT-3.1.2-8] is published when the connection closes without DISCONNECT, with its QoS', async () => {
    t = await startBroker();
    const got = await watcher();
    const dev = await t.client({ protocolVersion, will: will({ qos: 1 }) });
    await kill(dev);
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'will/dev', payload: 'offline' });
    expect(got.messages[0]?.packet.qos).toBe(1);
    expect(got.messages[0]?.packet.retain).toBe(false);
  });

  it('[MQTT-3.1.2-17] a will with RETAIN=1 is published as a retained message (QoS 2 kept)', async () => {
    t = await startBroker();
    const dev = await t.client({ protocolVersion, will: will({ qos: 2, retain: true, payload: Buffer.from('lost') }) });
    await kill(dev);
    await until(() => t.broker.retainedCount === 1, 'the retained will');
    const later = await t.client({ protocolVersion });
    const got = collect(later);
    await later.subscribeAsync('will/dev', { qos: 2 });
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'will/dev', payload: 'lost' });
    expect(got.messages[0]?.packet.retain).toBe(true);
    expect(got.messages[0]?.packet.qos).toBe(2);
  });

  it('[MQTT-3.1.2-10] is not published after a normal DISCONNECT', async () => {
    t = await startBroker();
    const got = await watcher();
    const dev = await t.client({ protocolVersion, will: will() });
    await dev.endAsync();
    await until(() => t.broker.clientCount === 1, 'the device to be gone');
    await sleep(200);
    expect(got.messages).toEqual([]);
  });

  it('[MQTT-3.1.2-24] is published when the keepalive expires', async () => {
    t = await startBroker();
    const got = await watcher();
    const r = await Wire.open(t.port, protocolVersion);
    raws.push(r);
    // keepalive 1 s and then silence: the broker closes after 1.5 s
    await r.handshake({ keepalive: 1, will: { topic: 'will/silent', payload: Buffer.from('timeout'), qos: 0, retain: false } });
    await got.waitFor(1, 4000);
    expect(got.messages[0]).toMatchObject({ topic: 'will/silent', payload: 'timeout' });
    await r.waitClosed();
  });
});

describe('MQTT 5 will', () => {
  it('[MQTT-3.14.4-3] DISCONNECT with reason 0x04 (Disconnect with Will Message) publishes the will', async () => {
    t = await startBroker();
    const got = await watcher();
    const dev = await t.client({ protocolVersion: 5, will: will() });
    await dev.endAsync(false, { reasonCode: 0x04 });
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'will/dev', payload: 'offline' });
  });

  it('[MQTT-3.1.3-9] a Will Delay Interval holds the will back until the delay has passed', async () => {
    t = await startBroker();
    const got = await watcher();
    const dev = await t.client({
      protocolVersion: 5,
      clientId: 'delayed',
      clean: false,
      properties: { sessionExpiryInterval: 30 },
      will: will({ properties: { willDelayInterval: 1 } }),
    });
    const start = Date.now();
    await kill(dev);
    await sleep(500);
    expect(got.messages).toEqual([]);
    await got.waitFor(1, 3000);
    expect(Date.now() - start).toBeGreaterThanOrEqual(950);
    expect(got.messages[0]?.payload).toBe('offline');
  });

  it('[MQTT-3.1.3-9] a client that reconnects within the Will Delay Interval cancels the will', async () => {
    t = await startBroker();
    const got = await watcher();
    const opts = {
      protocolVersion: 5 as const,
      clientId: 'comeback',
      clean: false,
      properties: { sessionExpiryInterval: 30 },
      will: will({ properties: { willDelayInterval: 1 } }),
    };
    await kill(await t.client(opts));
    await sleep(200);
    const back = await t.client(opts);
    expect(connackOf(back).sessionPresent).toBe(true);
    await sleep(1500);
    expect(got.messages).toEqual([]);
  });

  it('[MQTT-3.1.3-9] the will goes out when the session ends, if that comes before the Will Delay Interval', async () => {
    t = await startBroker();
    const got = await watcher();
    const dev = await t.client({
      protocolVersion: 5,
      clientId: 'short-session',
      clean: false,
      properties: { sessionExpiryInterval: 1 },
      will: will({ properties: { willDelayInterval: 60 } }),
    });
    await kill(dev);
    await got.waitFor(1, 3000);
    expect(got.messages[0]?.payload).toBe('offline');
  });

  it('[MQTT-3.1.4-3] a session takeover publishes the will of the first connection', async () => {
    t = await startBroker();
    const got = await watcher();
    const first = await t.client({ protocolVersion: 5, clientId: 'twin', will: will({ payload: Buffer.from('replaced') }) });
    const firstClosed = closed(first);
    await t.client({ protocolVersion: 5, clientId: 'twin' });
    await firstClosed;
    await got.waitFor(1);
    expect(got.messages[0]?.payload).toBe('replaced');
  });

  it('the will carries its MQTT 5 properties', async () => {
    t = await startBroker();
    const got = await watcher();
    const dev = await t.client({
      protocolVersion: 5,
      will: will({
        properties: { contentType: 'text/plain', userProperties: { device: '42' }, responseTopic: 'will/reply', messageExpiryInterval: 60 },
      }),
    });
    await kill(dev);
    await got.waitFor(1);
    const props = got.messages[0]?.packet.properties;
    expect(props).toMatchObject({ contentType: 'text/plain', userProperties: { device: '42' }, responseTopic: 'will/reply' });
    expect(props?.messageExpiryInterval).toBeGreaterThan(55);
    expect(props?.messageExpiryInterval).toBeLessThanOrEqual(60);
  });
});

describe('a delayed will and a clean start [MQTT-3.1.3-9]', () => {
  const delayed = {
    protocolVersion: 5 as const,
    clientId: 'delayed-will',
    clean: false,
    properties: { sessionExpiryInterval: 60 },
    will: { topic: 'will/delayed', payload: Buffer.from('gone'), qos: 1 as const, retain: false, properties: { willDelayInterval: 30 } },
  };

  it('a will delayed 30 s (session expiry 60 s) is published at once when the client reconnects with clean start', async () => {
    t = await startBroker();
    const watcher = await t.client({ protocolVersion: 5 });
    const got = collect(watcher);
    await watcher.subscribeAsync('will/#', { qos: 1 });
    await kill(await t.client(delayed));
    await until(() => t.broker.clientCount === 1, 'the device to be gone');
    await sleep(200);
    expect(got.messages).toEqual([]); // still delayed
    const back = await t.client({ protocolVersion: 5, clientId: 'delayed-will', clean: true });
    expect(connackOf(back).sessionPresent).toBe(false);
    await got.waitFor(1, 2000);
    expect(got.messages[0]).toMatchObject({ topic: 'will/delayed', payload: 'gone' });
  });

  it('the same will is not published when the client resumes the session (clean start 0)', async () => {
    t = await startBroker();
    const watcher = await t.client({ protocolVersion: 5 });
    const got = collect(watcher);
    await watcher.subscribeAsync('will/#', { qos: 1 });
    await kill(await t.client(delayed));
    await until(() => t.broker.clientCount === 1, 'the device to be gone');
    const back = await t.client({ protocolVersion: 5, clientId: 'delayed-will', clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(connackOf(back).sessionPresent).toBe(true);
    await watcher.publishAsync('will/probe', 'probe', { qos: 1 });
    await got.waitFor(1);
    await sleep(100);
    expect(got.messages.map((m) => m.topic)).toEqual(['will/probe']);
  });
});
