import { redactUrl } from '../../config/redact.js';
import type { Redis } from 'ioredis';
import type { RedisSinkOptions } from '../config.js';
import { recordId, type LogRecord } from '../record.js';
import type { SinkDriver } from './sink.js';

/** The entry id of a record: its offset as the id's time part, so ids increase with offsets. */
export function entryIdOf(offset: number): string {
  return `${offset}-1`;
}

/**
 * Redis Streams. XADD with the explicit id `${offset}-1`: a record appended before (a retry after a
 * lost reply, or a restart) has an id not above the stream's top, so Redis refuses it instead of
 * adding a duplicate, and the refusal counts as delivered.
 */
export class RedisSink implements SinkDriver {
  readonly description: string;
  readonly #options: RedisSinkOptions;
  #redis: Redis | undefined;

  constructor(options: RedisSinkOptions) {
    this.#options = options;
    this.description = `redis ${redactUrl(options.url)} key ${options.key}`; // logged: no password
  }

  async connect(): Promise<void> {
    await this.close();
    // Loaded on first use: a broker without a Redis sink never pays for the client's modules
    const { Redis } = await import('ioredis');
    // Commands fail at once while disconnected: the sink runner owns retries and backoff
    const redis = new Redis(this.#options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      retryStrategy: (times: number) => Math.min(100 * times, 2000),
    });
    redis.on('error', () => undefined); // surfaced by the failing command
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      redis.disconnect();
      throw err;
    }
    this.#redis = redis;
  }

  async send(records: readonly LogRecord[]): Promise<void> {
    const redis = this.#redis;
    if (!redis) throw new Error('not connected');
    const pipeline = redis.pipeline();
    const maxLen = this.#options.maxLen ?? 0;
    for (const record of records) {
      const trim: (string | number)[] = maxLen > 0 ? ['MAXLEN', '~', maxLen] : [];
      pipeline.xadd(this.#options.key, ...trim, entryIdOf(record.offset), ...fieldsOf(record));
    }
    const results = (await pipeline.exec()) ?? [];
    for (const [err] of results) {
      // An id at or below the top: this record was appended before
      if (err && !/equal or smaller/i.test(err.message)) throw err;
    }
    if (results.length !== records.length) throw new Error(`redis answered ${results.length} of ${records.length} XADDs`);
  }

  async close(): Promise<void> {
    const redis = this.#redis;
    this.#redis = undefined;
    if (redis) await redis.quit().catch(() => redis.disconnect());
  }
}

function fieldsOf(record: LogRecord): (string | Buffer)[] {
  const fields: (string | Buffer)[] = ['id', recordId(record), 'topic', record.topic, 'payload', record.payload];
  fields.push('qos', String(record.qos), 'retain', record.retain ? '1' : '0', 'timestamp', String(record.timestamp));
  const p = record.properties;
  if (p) {
    const { correlationData, ...rest } = p;
    fields.push('properties', JSON.stringify(correlationData === undefined ? rest : { ...rest, correlationData: correlationData.toString('base64') }));
  }
  return fields;
}
