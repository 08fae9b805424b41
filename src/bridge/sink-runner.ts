import type { Logger } from 'pino';
import type { LeaseStatus } from '../cluster/leases.js';
import type { LogRecord } from './record.js';
import type { SinkDriver } from './sinks/sink.js';

/** Where a sink reads records and keeps its cursor: the embedded log, or in cluster mode the JetStream streams and the sink's lease. */
export interface SinkSource {
  read(stream: string, options: { from?: number; limit?: number }): Promise<LogRecord[]>;
  waitFor(stream: string, offset: number, signal?: AbortSignal): Promise<void>;
  cursor(sink: string): Promise<number | undefined>;
  saveCursor(sink: string, offset: number): void;
  has(stream: string): boolean;
  stat(stream: string): { first: number; next: number };
  /**
   * True where nothing reports the records retention removes (JetStream in cluster mode): the
   * runner counts the records missing ahead of its position as dropped. The embedded log reports
   * them itself (`dropped`), so this is unset there.
   */
  readonly countsGaps?: boolean;
}

/** A sink's health, for `broker.bridge.status()` and metrics. */
export interface SinkStatus {
  readonly name: string;
  readonly type: string;
  readonly stream: string;
  /** 'connecting' before the engine first answers, 'running' while shipping or caught up, 'retrying' after a failure. */
  readonly state: 'connecting' | 'running' | 'retrying' | 'stopped';
  /** Next offset to ship (every record below it was acknowledged by the engine). */
  readonly cursor: number;
  /** Records in the stream not yet acknowledged by the engine. */
  readonly lagRecords: number;
  /** Age in seconds of the oldest record not yet acknowledged (0 when caught up). */
  readonly lagSeconds: number;
  readonly shipped: number;
  /** Records retention removed before this sink shipped them ('drop-oldest'). */
  readonly dropped: number;
  readonly failures: number;
  readonly lastError: string | undefined;
  /** Cluster mode: this node's view of the sink's lease (the sink runs only where it is held). */
  readonly lease?: LeaseStatus;
}

/**
 * A driver's error as a sentence an operator can act on, keeping the driver's own words after
 * it: ioredis' "Stream isn't writeable and enableOfflineQueue options is false" means the
 * connection to Redis is down.
 */
export function explainDriverError(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown; name?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const text = `${String(e?.code ?? '')} ${String(e?.name ?? '')} ${message}`;
  const causes: [RegExp, string][] = [
    [/Stream isn't writeable|Connection is closed|CONNECTION_CLOSED|DISCONNECT/i, 'the connection to the server is down'],
    [/ECONNREFUSED|CONNECTION_REFUSED/i, 'connection refused (is the server running, and is this its address?)'],
    [/ENOTFOUND|EAI_AGAIN/i, 'unknown host'],
    [/ECONNRESET|EPIPE/i, 'the server closed the connection'],
    [/ETIMEDOUT|TIMEOUT|timed out/i, 'the server did not answer in time'],
    [/NOAUTH|WRONGPASS|AUTHORIZATION_VIOLATION|AUTHENTICATION|SASL/i, 'the server refused the credentials'],
    [/no responders|JetStream not enabled|503/i, 'JetStream is not available on the NATS server'],
    [/KafkaJSConnectionError|KafkaJSNumberOfRetriesExceeded|KafkaJSBrokerNotFound/i, 'cannot reach the Kafka brokers'],
  ];
  const cause = causes.find(([pattern]) => pattern.test(text))?.[1];
  return cause === undefined ? message : `${cause} (driver: ${message})`;
}

/** How long `stop()` lets a send in progress finish. */
const STOP_GRACE_MS = 2000;

/** Backoff after a failure: 100 ms doubling to 30 s. */
export function backoffMs(attempt: number): number {
  return Math.min(30_000, 100 * 2 ** Math.min(attempt, 20));
}

/**
 * Ships one stream to one engine: reads a batch from its durable cursor, sends it, advances the
 * cursor, and waits for new records when caught up. Failures are logged and retried with backoff;
 * they never reach the broker.
 */
export class SinkRunner {
  readonly name: string;
  readonly type: string;
  readonly stream: string;
  readonly #log: SinkSource;
  readonly #driver: SinkDriver;
  readonly #logger: Logger;
  readonly #batchSize: number;
  readonly #abort = new AbortController();
  #state: SinkStatus['state'] = 'connecting';
  #cursor = 0;
  #oldestPending: number | undefined;
  #shipped = 0;
  #dropped = 0;
  #failures = 0;
  #lastError: string | undefined;
  /** When the current run of failures began, and how many it holds; undefined while healthy. */
  #outage: { since: number; failures: number } | undefined;
  #loop: Promise<void> | undefined;

  constructor(sink: { name: string; type: string; stream: string; batchSize: number }, log: SinkSource, driver: SinkDriver, logger: Logger) {
    this.name = sink.name;
    this.type = sink.type;
    this.stream = sink.stream;
    this.#log = log;
    this.#driver = driver;
    this.#batchSize = sink.batchSize;
    this.#logger = logger.child({ sink: sink.name });
  }

  /** The next offset to ship. */
  get cursor(): number {
    return this.#cursor;
  }

  /** Loads the cursor and starts shipping in the background. */
  async start(): Promise<void> {
    const stored = await this.#log.cursor(this.name);
    this.#cursor = stored ?? this.#log.stat(this.stream).first;
    this.#loop = this.#run();
  }

  /** Counts records retention removed before they were shipped. */
  dropped(count: number): void {
    this.#dropped += count;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let attempt = 0;
    let connected = false;
    while (!signal.aborted) {
      try {
        if (!connected) {
          await this.#driver.connect();
          connected = true;
          this.#logger.info({ engine: this.#driver.description }, 'sink connected');
          this.#recovered();
        }
        this.#state = 'running';
        const shipped = await this.#step(signal);
        if (shipped) this.#recovered();
        if (!shipped) await this.#log.waitFor(this.stream, this.#cursor, signal);
        attempt = 0;
      } catch (err) {
        if (signal.aborted) break;
        this.#failed(err, attempt, connected);
        await sleep(backoffMs(attempt++), signal);
      }
    }
  }

  /** Ships one batch; false when there was nothing to ship. */
  async #step(signal: AbortSignal): Promise<boolean> {
    const batch = await this.#log.read(this.stream, { from: this.#cursor, limit: this.#batchSize });
    const first = batch[0];
    if (!first || signal.aborted) {
      this.#oldestPending = undefined;
      return false;
    }
    if (first.offset > this.#cursor) {
      if (this.#log.countsGaps) this.#dropped += first.offset - this.#cursor;
      this.#logger.warn({ from: this.#cursor, to: first.offset }, 'records removed by retention before this sink shipped them');
      this.#cursor = first.offset;
    }
    this.#oldestPending = first.timestamp;
    await this.#driver.send(batch);
    this.#cursor = (batch[batch.length - 1] as { offset: number }).offset + 1;
    this.#shipped += batch.length;
    this.#log.saveCursor(this.name, this.#cursor);
    return true;
  }

  #failed(err: unknown, attempt: number, connected: boolean): void {
    this.#state = 'retrying';
    this.#failures++;
    this.#outage ??= { since: Date.now(), failures: 0 };
    this.#outage.failures++;
    const why = explainDriverError(err);
    this.#lastError = why;
    const retryInMs = backoffMs(attempt);
    const what = `${connected ? 'cannot send to' : 'cannot reach'} ${this.#driver.description}`;
    this.#logger.error({ err, engine: this.#driver.description, retryInMs, cursor: this.#cursor }, `sink ${this.name} ${what}: ${why}; retrying in ${retryInMs} ms`);
  }

  /** After failures, the first batch that ships again (or a reconnect) ends the outage: said once. */
  #recovered(): void {
    const outage = this.#outage;
    if (!outage) return;
    this.#outage = undefined;
    this.#logger.info({ engine: this.#driver.description, failures: outage.failures, downMs: Date.now() - outage.since, cursor: this.#cursor }, `sink ${this.name} recovered`);
  }

  status(now = Date.now()): SinkStatus {
    const next = this.#log.has(this.stream) ? this.#log.stat(this.stream).next : this.#cursor;
    const lagRecords = Math.max(0, next - this.#cursor);
    const lagSeconds = lagRecords > 0 && this.#oldestPending !== undefined ? Math.max(0, (now - this.#oldestPending) / 1000) : 0;
    return {
      name: this.name,
      type: this.type,
      stream: this.stream,
      state: this.#state,
      cursor: this.#cursor,
      lagRecords,
      lagSeconds,
      shipped: this.#shipped,
      dropped: this.#dropped,
      failures: this.#failures,
      lastError: this.#lastError,
    };
  }

  /**
   * Stops shipping and closes the engine connection. A send in progress gets STOP_GRACE_MS to
   * finish (its cursor is then saved); after that the connection is closed under it, which fails it.
   */
  async stop(): Promise<void> {
    this.#abort.abort();
    const loop = this.#loop ?? Promise.resolve();
    await within(loop, STOP_GRACE_MS);
    try {
      await this.#driver.close();
    } catch (err) {
      this.#logger.warn({ err }, 'sink close failed');
    }
    await within(loop, STOP_GRACE_MS);
    this.#state = 'stopped';
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Waits for `promise`, at most `ms`. */
async function within(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
