/** The size limit of a WebSocket message (maxPacketSize + 1 KiB): a larger one closes that connection only. */
import { once } from 'node:events';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { collect, sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';

let t: TestBroker | undefined;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0)) await fn();
  await t?.close();
  t = undefined;
});

function broker(): TestBroker {
  if (!t) throw new Error('no broker started');
  return t;
}

/** Rejects after `ms` (so that a promise that never settles fails the test quickly). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`${what}: nothing after ${ms} ms`)))]);
}

/** Proves the broker still serves: a fresh subscriber gets a fresh publisher's message. */
async function stillServes(protocolVersion: 4 | 5 = 4, ws = false): Promise<void> {
  const tb = broker();
  const sub = await tb.client({ protocolVersion, ws });
  const got = collect(sub);
  await sub.subscribeAsync('alive/check', { qos: 1 });
  const pub = await tb.client({ protocolVersion, ws });
  await pub.publishAsync('alive/check', 'yes', { qos: 1 });
  await got.waitFor(1);
  expect(got.messages[0]?.payload).toBe('yes');
}

describe('WebSocket maxPayload', () => {
  async function openWs(url: string): Promise<{ ws: WebSocket; frames: Buffer[]; closed: Promise<number> }> {
    const ws = new WebSocket(url, 'mqtt');
    cleanups.push(() => ws.terminate());
    const frames: Buffer[] = [];
    ws.on('message', (data) => frames.push(Buffer.from(data as Buffer)));
    ws.on('error', () => undefined);
    const closedCode = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await within(once(ws, 'open'), 3000, 'WebSocket open');
    ws.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `ws-${Math.random().toString(16).slice(2)}`, clean: true, keepalive: 0 }));
    await until(() => frames.length > 0, 'CONNACK over WebSocket');
    expect([...(frames[0] as Buffer)]).toEqual([0x20, 0x02, 0x00, 0x00]);
    return { ws, frames, closed: closedCode };
  }

  it('a WebSocket message larger than maxPacketSize + 1024 closes that connection (1009); other clients are unaffected', async () => {
    t = await startBroker({ maxPacketSize: 1024 });
    const other = await t.client({ protocolVersion: 4, ws: true });
    const big = await openWs(t.wsUrl);
    // 1100 PINGREQs in one message: each packet is valid, the message (2200 bytes) is over 2048
    const pingreq = mqttPacket.generate({ cmd: 'pingreq' });
    big.ws.send(Buffer.concat(Array.from({ length: 1100 }, () => pingreq)));
    expect(await within(big.closed, 3000, 'close of the oversized WebSocket')).toBe(1009);
    expect(other.connected).toBe(true);
    await stillServes(4, true);
  });

  it('a message of maxPacketSize bytes (one maximal PUBLISH) is still accepted', async () => {
    t = await startBroker({ maxPacketSize: 1024 });
    const sub = await t.client({ protocolVersion: 4 });
    const got = collect(sub);
    await sub.subscribeAsync('ws/max', { qos: 0 });
    const c = await openWs(t.wsUrl);
    // fixed header 3 bytes + topic 8 + payload: 1024 bytes in all
    const frame = mqttPacket.generate({ cmd: 'publish', topic: 'ws/max', payload: Buffer.alloc(1024 - 3 - 8, 0x62), qos: 0, dup: false, retain: false });
    expect(frame.length).toBe(1024);
    c.ws.send(frame);
    await got.waitFor(1);
    expect(got.messages[0]?.payload.length).toBe(1013);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });
});
