import type { Packet } from 'mqtt-packet';
import mqttPacket from 'mqtt-packet';
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, startBroker, until, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

let t: TestBroker | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await t?.close();
  t = undefined;
});

const LIMITS = { maxWriteBuffer: 1024 * 1024, slowConsumerTimeout: 4000, maxInflight: 10, maxQueuedMessages: 50 };
const SUBSCRIBE: Packet = {
  cmd: 'subscribe',
  messageId: 1,
  subscriptions: [
    { topic: 'q0/#', qos: 0 },
    { topic: 'q1/#', qos: 1 },
  ],
} as Packet;

/** A TCP subscriber that stops reading its socket once subscribed. */
async function stalledTcp(port: number): Promise<void> {
  const r = await Wire.open(port, 4);
  cleanups.push(() => r.close());
  await r.handshake({ clientId: 'stalled', clean: false });
  r.send(SUBSCRIBE);
  await r.next('suback');
  r.socket.pause();
}

/** A WebSocket subscriber that stops reading its socket once subscribed. */
async function stalledWs(wsUrl: string): Promise<void> {
  const ws = new WebSocket(wsUrl, 'mqtt');
  cleanups.push(() => ws.terminate());
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  const suback = new Promise<void>((resolve) => {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: Packet) => p.cmd === 'suback' && resolve());
    ws.on('message', (data: Buffer) => parser.parse(data));
  });
  const frame = (p: Packet) => mqttPacket.generate(p, { protocolVersion: 4 });
  ws.send(frame({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'stalled', clean: false, keepalive: 0 } as Packet));
  ws.send(frame(SUBSCRIBE));
  await suback;
  (ws as unknown as { _socket: { pause(): void } })._socket.pause();
}

async function scenario(stall: (t: TestBroker) => Promise<void>, healthyOverWs: boolean): Promise<void> {
  t = await startBroker(LIMITS);
  await stall(t);
  const healthy = [await t.client({ ws: healthyOverWs }), await t.client({ ws: !healthyOverWs })];
  const received = healthy.map((c) => collect(c));
  for (const c of healthy) await c.subscribeAsync({ 'q0/#': { qos: 0 }, 'q1/#': { qos: 1 } });
  const pub = await t.client();
  const payload = Buffer.alloc(8 * 1024, 0x61);
  // 24 MiB of QoS 0 in batches the healthy subscribers read as they come: the stalled one fills its buffers
  const batches = 96;
  for (let b = 0; b < batches; b++) {
    for (let i = 0; i < 32; i++) pub.publish('q0/flood', payload, { qos: 0 });
    for (const r of received) await r.waitFor((b + 1) * 32, 10_000);
  }
  const stats = t.broker.stats;
  // QoS 0 to the stalled client is dropped once its write buffer is over the bound, and counted
  expect(stats.dropped['slow-consumer']).toBeGreaterThan(0);
  // QoS 1: the stalled session holds at most its window plus its queue; the rest is dropped and counted
  for (let i = 0; i < 200; i++) await pub.publishAsync('q1/x', 'm', { qos: 1 });
  for (const r of received) await r.waitFor(batches * 32 + 200, 10_000);
  const session = t.broker.session('stalled');
  expect(session?.inflight ?? 0).toBeLessThanOrEqual(10);
  expect(session?.queued ?? 0).toBeLessThanOrEqual(50);
  expect(stats.dropped['queue-full']).toBeGreaterThanOrEqual(140);
  // Every healthy subscriber got everything, in order
  for (const r of received) expect(r.messages.filter((m) => m.topic === 'q1/x')).toHaveLength(200);
  // After slowConsumerTimeout stalled, the client is disconnected; its session stays (clean: false)
  await until(() => t?.broker.connectionStats.slowConsumersDisconnected === 1, 'stalled client disconnected', 8000);
  await until(() => t?.broker.session('stalled')?.connected === false, 'session detached', 2000);
  expect(healthy.every((c) => c.connected)).toBe(true);
}

describe('slow consumer isolation', () => {
  it('TCP: a subscriber that stops reading does not hold back healthy ones (TCP and WebSocket), is bounded, then disconnected', async () => {
    await scenario((b) => stalledTcp(b.port), false);
  });

  it('WebSocket: the same for a subscriber that stops reading its WebSocket', async () => {
    await scenario((b) => stalledWs(b.wsUrl), true);
  });
});
