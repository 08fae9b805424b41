import type { Producer } from 'kafkajs';
import type { KafkaSinkOptions } from '../config.js';
import type { LogRecord } from '../record.js';
import { metadataHeaders, type SinkDriver } from './sink.js';

/** The part of a kafkajs Producer the sink uses (tests inject one). */
export type KafkaProducer = Pick<Producer, 'connect' | 'send' | 'disconnect'>;

/** Builds the producer for `options`; the default is an idempotent kafkajs producer. */
export type KafkaProducerFactory = (options: KafkaSinkOptions) => KafkaProducer | Promise<KafkaProducer>;

/** Loads kafkajs on first use: a broker without a Kafka sink never pays for its modules. */
async function defaultProducer(options: KafkaSinkOptions): Promise<KafkaProducer> {
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({ clientId: options.clientId ?? 'midge-bridge', brokers: options.brokers, retry: { retries: 2 }, logLevel: logLevel.NOTHING }); // the sink runner logs failures
  // Idempotence needs acks from all replicas and one request in flight to keep the order
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true });
}

/** Kafka: the record key is the MQTT topic, the headers carry the metadata and the `stream:offset` id. */
export class KafkaSink implements SinkDriver {
  readonly description: string;
  readonly #options: KafkaSinkOptions;
  readonly #factory: KafkaProducerFactory;
  #producer: KafkaProducer | undefined;

  constructor(options: KafkaSinkOptions, factory: KafkaProducerFactory = defaultProducer) {
    this.#options = options;
    this.#factory = factory;
    this.description = `kafka ${options.brokers.join(',')} topic ${options.topic}`;
  }

  async connect(): Promise<void> {
    await this.close();
    const producer = await this.#factory(this.#options);
    await producer.connect();
    this.#producer = producer;
  }

  async send(records: readonly LogRecord[]): Promise<void> {
    const producer = this.#producer;
    if (!producer) throw new Error('not connected');
    await producer.send({
      topic: this.#options.topic,
      acks: -1,
      messages: records.map((r) => ({ key: r.topic, value: r.payload, headers: metadataHeaders(r), timestamp: String(r.timestamp) })),
    });
  }

  async close(): Promise<void> {
    const producer = this.#producer;
    this.#producer = undefined;
    if (producer) await producer.disconnect();
  }
}
