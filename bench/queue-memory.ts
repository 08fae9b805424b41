/**
 * Memory of a persistent session with a long offline queue, with and without paging.
 * Run: node --expose-gc dist/bench/queue-memory.js [--messages 1000000] [--payload 64]
 * It starts Midge in this process on the LevelDB store in a scratch directory, queues the
 * messages for one offline QoS 1 subscriber, and reports heap and RSS growth per queued message.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createBroker } from '../src/index.js';

interface Measurement {
  readonly label: string;
  readonly messages: number;
  readonly queued: number;
  readonly inMemory: number;
  readonly heapMB: number;
  readonly rssMB: number;
  readonly seconds: number;
}

function settle(): { heap: number; rss: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

/** Queues `messages` for one offline subscriber and measures memory growth. */
async function measure(label: string, messages: number, payloadSize: number, pageSize: number): Promise<Measurement> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'midge-queue-memory-'));
  const broker = createBroker({
    host: '127.0.0.1', port: -1, wsPort: -1, logLevel: 'silent', store: 'level', dataDir, durability: 'none',
    queuePageSize: pageSize, maxQueuedMessages: messages, maxQueuedBytes: messages * payloadSize * 2,
  });
  await broker.start();
  const subscriber = createSubscriber(broker);
  await subscriber;
  const before = settle();
  const started = performance.now();
  const payload = Buffer.alloc(payloadSize, 0x61);
  const batch = 10_000;
  for (let sent = 0; sent < messages; sent += batch) {
    const count = Math.min(batch, messages - sent);
    await Promise.all(Array.from({ length: count }, () => broker.publish({ topic: 'feed', payload, qos: 1 })));
  }
  const seconds = (performance.now() - started) / 1000;
  const after = settle();
  const info = broker.session('backend');
  await broker.close();
  rmSync(dataDir, { recursive: true, force: true });
  return {
    label, messages, seconds,
    queued: info?.queued ?? 0,
    inMemory: info?.queuedInMemory ?? 0,
    heapMB: (after.heap - before.heap) / 2 ** 20,
    rssMB: (after.rss - before.rss) / 2 ** 20,
  };
}

/** A persistent QoS 1 subscription for an offline client, made through a real MQTT connection. */
async function createSubscriber(broker: ReturnType<typeof createBroker>): Promise<void> {
  const { PassThrough, Duplex } = await import('node:stream');
  const mqtt = (await import('mqtt')).default;
  const toBroker = new PassThrough();
  const toClient = new PassThrough();
  broker.handle(Duplex.from({ readable: toBroker, writable: toClient }), 'bench');
  const stream = Duplex.from({ readable: toClient, writable: toBroker });
  const client = new mqtt.MqttClient(() => stream, { clientId: 'backend', clean: false, protocolVersion: 4, reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync('feed', { qos: 1 });
  await client.endAsync();
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { messages: { type: 'string', default: '1000000' }, payload: { type: 'string', default: '64' } } });
  const messages = Number(values.messages);
  const payload = Number(values.payload);
  if (!(globalThis as { gc?: unknown }).gc) console.warn('run with node --expose-gc for stable figures');
  const rows = [await measure('paged (page 1000)', messages, payload, 1000)];
  const unpaged = Math.min(messages, 200_000);
  rows.push(await measure(`all in memory (${unpaged.toLocaleString('en-US')} msgs)`, unpaged, payload, unpaged + 1));
  console.log('mode                            messages   queued  in memory  heap MB  RSS MB  bytes/msg (heap)  publish s');
  for (const r of rows) {
    const perMsg = ((r.heapMB * 2 ** 20) / r.messages).toFixed(1);
    console.log(
      `${r.label.padEnd(30)} ${String(r.messages).padStart(9)} ${String(r.queued).padStart(8)} ${String(r.inMemory).padStart(10)} ` +
        `${r.heapMB.toFixed(1).padStart(8)} ${r.rssMB.toFixed(1).padStart(7)} ${perMsg.padStart(17)} ${r.seconds.toFixed(1).padStart(10)}`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
