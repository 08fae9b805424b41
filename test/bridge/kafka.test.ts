/**
 * The Kafka sink. No Kafka server can be installed here: the unit tests inject a producer that
 * records what kafkajs would be asked to send; the integration test runs when KAFKA_BROKERS is set.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/bridge/backend.js';
import { Log } from '../../src/bridge/log.js';
import { backoffMs, SinkRunner } from '../../src/bridge/sink-runner.js';
import { KafkaSink, type KafkaProducer } from '../../src/bridge/sinks/kafka.js';
import type { KafkaSinkOptions } from '../../src/bridge/config.js';
import type { Message } from '../../src/index.js';
import { createBroker } from '../../src/index.js';
import { until } from '../helpers/broker.js';

const silent = pino({ level: 'silent' });
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

type Sent = Parameters<KafkaProducer['send']>[0];

/** A producer that fails its first `failConnects` connects and `failSends` sends, and records the rest. */
function fakeProducer(failConnects: number, failSends: number): { producer: KafkaProducer; sent: Sent[]; attempts: number } {
  const state = { sent: [] as Sent[], attempts: 0, producer: undefined as unknown as KafkaProducer };
  state.producer = {
    connect: async () => {
      if (failConnects-- > 0) throw new Error('ECONNREFUSED 127.0.0.1:9092');
    },
    send: async (record) => {
      state.attempts++;
      if (failSends-- > 0) throw new Error('The coordinator is not available');
      state.sent.push(record);
      return [];
    },
    disconnect: async () => undefined,
  };
  return state;
}

function message(i: number, extra: Partial<Message> = {}): Message {
  return { id: i, topic: `plant/line-${i % 2}`, payload: Buffer.from(`m${i}`), qos: 1, retain: false, properties: undefined, expiresAt: undefined, origin: 'c', ...extra };
}

const options: KafkaSinkOptions = { type: 'kafka', brokers: ['127.0.0.1:9092'], topic: 'telemetry', stream: 's' };

async function runner(producer: KafkaProducer, batchSize = 4): Promise<{ log: Log; sink: SinkRunner }> {
  const log = new Log(new MemoryBackend(), [{ name: 's', maxBytes: 1e9, maxAgeMs: 0 }]);
  await log.open();
  const sink = new SinkRunner({ name: 'kafka-s', type: 'kafka', stream: 's', batchSize }, log, new KafkaSink(options, () => producer), silent);
  await sink.start();
  stops.push(async () => {
    await sink.stop();
    log.close();
  });
  return { log, sink };
}

describe('Kafka sink (injected producer)', () => {
  it('sends records in order, keyed by MQTT topic, with metadata headers and the stream:offset id', async () => {
    const fake = fakeProducer(0, 0);
    const { log, sink } = await runner(fake.producer);
    const properties = { contentType: 'text/plain', userProperties: { unit: 'C' }, correlationData: Buffer.from('xy') };
    log.append('s', message(0, { properties, retain: true }), 1_700_000_000_000);
    for (let i = 1; i < 10; i++) log.append('s', message(i), 1_700_000_000_000 + i);
    await until(() => sink.cursor === 10, 'all records shipped');
    const messages = fake.sent.flatMap((s) => s.messages);
    expect(fake.sent.every((s) => s.topic === 'telemetry' && s.acks === -1)).toBe(true);
    expect(messages.map((m) => m.value?.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
    expect(messages.map((m) => m.key)).toEqual(Array.from({ length: 10 }, (_, i) => `plant/line-${i % 2}`));
    expect(messages[0]?.headers).toEqual({
      'midge-id': 's:0',
      'mqtt-topic': 'plant/line-0',
      'mqtt-qos': '1',
      'mqtt-retain': '1',
      'midge-timestamp': '1700000000000',
      'mqtt-content-type': 'text/plain',
      'mqtt-correlation-data': Buffer.from('xy').toString('base64'),
      'mqtt-user-properties': '{"unit":"C"}',
    });
    expect(messages[0]?.timestamp).toBe('1700000000000');
    expect(Math.max(...fake.sent.map((s) => s.messages.length))).toBeLessThanOrEqual(4);
    expect(sink.status()).toMatchObject({ state: 'running', lagRecords: 0, shipped: 10, failures: 0 });
  });

  it('retries an unreachable broker and failed sends with backoff, resending the batch from its cursor', async () => {
    const fake = fakeProducer(1, 2);
    const { log, sink } = await runner(fake.producer, 100);
    for (let i = 0; i < 5; i++) log.append('s', message(i), Date.now() - 2000);
    await until(() => sink.status().failures >= 1, 'a failure');
    expect(sink.status()).toMatchObject({ state: 'retrying', lagRecords: 5, lastError: 'connection refused (is the server running, and is this its address?) (driver: ECONNREFUSED 127.0.0.1:9092)' });
    await until(() => sink.cursor === 5, 'records shipped after retries', 5000);
    expect(fake.attempts).toBe(3);
    expect(fake.sent.flatMap((s) => s.messages).map((m) => m.value?.toString())).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(sink.status()).toMatchObject({ state: 'running', failures: 3, lagRecords: 0 });
  });

  it('backs off from 100 ms, doubling, to at most 30 s', () => {
    expect([0, 1, 2, 3, 20, 100].map(backoffMs)).toEqual([100, 200, 400, 800, 30_000, 30_000]);
  });

  it('a broker with a Kafka sink starts, and reports the unreachable engine in its status, without blocking publishers', async () => {
    const broker = createBroker({ port: -1, wsPort: -1, httpPort: -1, logLevel: 'silent', store: 'memory', bridge: { rules: [{ filter: '#', stream: 's' }], sinks: [{ ...options, brokers: ['127.0.0.1:1'] }] } });
    await broker.start();
    stops.push(() => broker.close());
    await broker.publish({ topic: 'a', payload: 'x', qos: 1 });
    await until(() => broker.bridge.status().sinks[0]?.state === 'retrying', 'the failure to show', 10_000);
    expect(broker.bridge.status().sinks[0]).toMatchObject({ name: 'kafka-s', lagRecords: 1 });
  }, 15_000);
});

const KAFKA = process.env.KAFKA_BROKERS;
if (!KAFKA) console.warn('SKIPPED: Kafka integration test (set KAFKA_BROKERS=host:port to run it)');

describe.skipIf(!KAFKA)('Kafka sink (real Kafka at KAFKA_BROKERS)', () => {
  it('delivers every record in order with its key and headers', async () => {
    const { Kafka } = await import('kafkajs');
    const brokers = (KAFKA as string).split(',');
    const topic = `midge-test-${Date.now()}`;
    const broker = createBroker({ port: -1, wsPort: -1, httpPort: -1, logLevel: 'silent', store: 'memory', bridge: { rules: [{ filter: 'k/#', stream: 'k' }], sinks: [{ type: 'kafka', stream: 'k', brokers, topic }] } });
    await broker.start();
    stops.push(() => broker.close());
    for (let i = 0; i < 20; i++) await broker.publish({ topic: 'k/a', payload: `m${i}`, qos: 1 });
    await until(() => broker.bridge.status().sinks[0]?.cursor === 20, 'shipped', 30_000);
    const consumer = new Kafka({ brokers, clientId: 'midge-test' }).consumer({ groupId: `${topic}-g` });
    await consumer.connect();
    stops.push(() => consumer.disconnect());
    await consumer.subscribe({ topic, fromBeginning: true });
    const got: string[] = [];
    await consumer.run({ eachMessage: async ({ message: m }) => void got.push(`${m.key?.toString()} ${m.value?.toString()} ${m.headers?.['midge-id']?.toString()}`) });
    await until(() => got.length >= 20, 'consumed', 30_000);
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `k/a m${i} k:${i}`));
  }, 60_000);
});
