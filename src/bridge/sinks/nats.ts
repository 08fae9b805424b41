import { redactUrl } from '../../config/redact.js';
import type { JetStreamClient, NatsConnection } from 'nats';
import type { NatsSinkOptions } from '../config.js';
import { recordId, type LogRecord } from '../record.js';
import { metadataHeaders, type SinkDriver } from './sink.js';

/** Milliseconds a publish waits for its JetStream acknowledgement. */
const ACK_TIMEOUT_MS = 5000;

/**
 * NATS JetStream. Each record is published with Nats-Msg-Id = stream:offset, so the server drops a
 * resend within its duplicate window; within a batch each record also expects the previous one as
 * the stream's last message id, so a record lost in a reconnect can never be overtaken by the next.
 */
export class NatsSink implements SinkDriver {
  readonly description: string;
  readonly #options: NatsSinkOptions;
  readonly #jetstream: string;
  #nc: NatsConnection | undefined;
  #js: JetStreamClient | undefined;
  /** nats' header factory, loaded with the client on the first connect. */
  #headers: typeof import('nats').headers | undefined;

  constructor(options: NatsSinkOptions) {
    this.#options = options;
    this.#jetstream = options.jetstream ?? `MIDGE_${options.stream}`.replace(/\./g, '_');
    this.description = `nats ${[options.servers].flat().map(redactUrl).join(',')} subject ${options.subject}`; // logged: no password
  }

  async connect(): Promise<void> {
    await this.close();
    // Loaded on first use: a broker without a NATS sink never pays for the client's modules
    const nats = await import('nats');
    this.#headers = nats.headers;
    const nc = await nats.connect({ servers: this.#options.servers, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 2000, name: 'midge-bridge' });
    try {
      await this.#ensureStream(nc);
    } catch (err) {
      await nc.close();
      throw err;
    }
    this.#nc = nc;
    this.#js = nc.jetstream({ timeout: ACK_TIMEOUT_MS });
  }

  /** Creates the JetStream stream, or checks that the existing one captures the subject. */
  async #ensureStream(nc: NatsConnection): Promise<void> {
    const jsm = await nc.jetstreamManager({ timeout: ACK_TIMEOUT_MS });
    const subject = this.#options.subject;
    let info;
    try {
      info = await jsm.streams.info(this.#jetstream);
    } catch (err) {
      if (!/not found/i.test((err as Error).message)) throw err;
      await jsm.streams.add({ name: this.#jetstream, subjects: [subject], duplicate_window: 120 * 1_000_000_000 });
      return;
    }
    if (!info.config.subjects?.includes(subject)) {
      throw new Error(`JetStream stream ${this.#jetstream} exists but does not capture subject ${subject} (it has ${info.config.subjects?.join(', ')})`);
    }
  }

  async send(records: readonly LogRecord[]): Promise<void> {
    const js = this.#js;
    const natsHeaders = this.#headers;
    if (!js || !natsHeaders) throw new Error('not connected');
    const acks = records.map((record, i) => {
      const h = natsHeaders();
      for (const [key, value] of Object.entries(metadataHeaders(record))) h.set(key, value);
      const previous = records[i - 1];
      const expect = previous ? { lastMsgID: recordId(previous) } : undefined;
      return js.publish(this.#options.subject, record.payload, { msgID: recordId(record), headers: h, expect });
    });
    const results = await Promise.allSettled(acks);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  async close(): Promise<void> {
    const nc = this.#nc;
    this.#nc = undefined;
    this.#js = undefined;
    if (nc && !nc.isClosed()) await nc.close();
  }
}
