import type { Msg, MsgHdrs, NatsConnection, Subscription as NatsSubscription } from 'nats';
import { BrokerError } from '../errors.js';

/** How long one append waits for its acknowledgement before it is retried with the same id. */
export const APPEND_TIMEOUT_MS = 5000;
/** How long an append is retried before it fails (a leader election takes a few seconds). */
export const APPEND_DEADLINE_MS = 60_000;

/** How often outstanding appends are checked for their timeout. */
const SWEEP_MS = 100;

interface Pending {
  readonly sentAt: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

function constant<T>(value: T): () => T {
  return () => value;
}

/** A JetStream append that was not acknowledged: timed out, no stream answered (503), or refused. */
export class AppendError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * Pipelined JetStream appends on one NATS connection. Each append is one core publish with a reply
 * subject under this appender's own inbox (one wildcard subscription for all of them), so any
 * number are outstanding at once and each settles when its PubAck arrives. This is what
 * `js.publish` does, without its per-request costs (a request object, a timer, a Promise.race and
 * an Error captured for every request): one timer sweeps the outstanding appends, oldest first.
 * An append that times out is rejected; the caller retries it with the same `Nats-Msg-Id`, which
 * JetStream deduplicates.
 */
export class JetStreamAppender {
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;
  readonly #inbox: string;
  readonly #sub: NatsSubscription;
  /** Outstanding appends by reply token, oldest first (Map keeps insertion order). */
  readonly #pending = new Map<string, Pending>();
  readonly #sweep: NodeJS.Timeout;
  /** Appends of this turn, published together by #send. */
  readonly #queue: { token: string; subject: string; data: Uint8Array; headers: MsgHdrs }[] = [];
  #next = 0;
  #closed = false;

  constructor(nc: NatsConnection, inbox: string, timeoutMs: number) {
    this.#nc = nc;
    this.#timeoutMs = timeoutMs;
    this.#inbox = `${inbox}.`;
    this.#sub = nc.subscribe(`${inbox}.*`, { callback: (err, msg) => err === null && this.#answered(msg) });
    this.#sweep = setInterval(() => this.#expire(), SWEEP_MS);
    this.#sweep.unref();
  }

  /** Outstanding appends. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Publishes `data` to `subject` with `headers` (a NATS/1.0 header block, or nats.js headers
   * encoded at once, so the caller may reuse the object) and settles when JetStream acknowledged
   * it: resolves for a stored or duplicate message.
   */
  append(subject: string, data: Uint8Array, headers: MsgHdrs | Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new AppendError('the appender is closed', 'CLOSED'));
    const token = (this.#next++).toString(36);
    // nats.js (2.29, pinned) only asks a publish's headers for their bytes (`encode()`, the NATS/1.0
    // header block): taken now, so the caller may reuse the object before the publish goes out
    const block = headers instanceof Uint8Array ? headers : (headers as unknown as { encode(): Uint8Array }).encode();
    const encoded = { encode: constant(block) } as unknown as MsgHdrs;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(token, { sentAt: performance.now(), resolve, reject });
      this.#queue.push({ token, subject, data, headers: encoded });
      if (this.#queue.length === 1) setImmediate(this.#send);
    });
  }

  /**
   * Publishes the appends of this event-loop turn together, once its I/O is done: nats.js writes
   * to its socket once per microtask checkpoint that published, and a turn has one per client
   * socket that delivered PUBLISH packets; one write for all of them costs a fraction.
   */
  readonly #send = (): void => {
    const queue = this.#queue.splice(0);
    for (const { token, subject, data, headers } of queue) {
      const pending = this.#pending.get(token);
      if (pending === undefined) continue; // closed meanwhile
      try {
        this.#nc.publish(subject, data, { reply: this.#inbox + token, headers });
      } catch (err) {
        this.#pending.delete(token);
        pending.reject(err as Error);
      }
    }
  };

  #answered(msg: Msg): void {
    const token = msg.subject.slice(this.#inbox.length);
    const pending = this.#pending.get(token);
    if (pending === undefined) return; // timed out already (the retry carries the same message id)
    this.#pending.delete(token);
    const headers = msg.headers;
    if (headers?.hasError) {
      pending.reject(new AppendError(`JetStream append: ${headers.code} ${headers.description}`, String(headers.code)));
      return;
    }
    if (storedAck(msg.data)) {
      pending.resolve();
      return;
    }
    let ack: { stream?: string; error?: { code?: number; description?: string } };
    try {
      ack = JSON.parse(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength).toString('utf8')) as typeof ack;
    } catch {
      pending.reject(new AppendError('JetStream append: an answer that is not a PubAck', 'INVALID_ACK'));
      return;
    }
    if (ack.error !== undefined) pending.reject(new AppendError(`JetStream append: ${ack.error.code ?? ''} ${ack.error.description ?? ''}`, String(ack.error.code ?? 'ERROR')));
    else if (typeof ack.stream !== 'string' || ack.stream === '') pending.reject(new AppendError('JetStream append: a PubAck without a stream', 'INVALID_ACK'));
    else pending.resolve();
  }

  /** Rejects the appends older than the timeout (oldest first, so the walk stops at the first young one). */
  #expire(): void {
    const oldest = performance.now() - this.#timeoutMs;
    for (const [token, pending] of this.#pending) {
      if (pending.sentAt > oldest) break;
      this.#pending.delete(token);
      pending.reject(new AppendError(`JetStream append not acknowledged within ${this.#timeoutMs} ms`, 'TIMEOUT'));
    }
  }

  /** Rejects every outstanding append and stops listening. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const pending of this.#pending.values()) pending.reject(new AppendError('the NATS connection is closing', 'CLOSED'));
    this.#pending.clear();
    this.#sub.unsubscribe();
  }
}

/** `{"stream":"` : how every PubAck of a stored (or duplicate) message begins (nats-server writes it so). */
const ACK_HEAD = Buffer.from('{"stream":"', 'latin1');
const ERROR_KEY = Buffer.from('"error"', 'latin1');
const QUOTE = 0x22;

/**
 * Whether `data` is a PubAck of a stored message, read without JSON: it begins with a non-empty
 * stream name and names no error (nats-server writes an error first: `{"error":…}`). Anything
 * else is parsed as JSON.
 */
function storedAck(data: Uint8Array): boolean {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return b.length > ACK_HEAD.length && b.compare(ACK_HEAD, 0, ACK_HEAD.length, 0, ACK_HEAD.length) === 0 && b[ACK_HEAD.length] !== QUOTE && b.indexOf(ERROR_KEY) < 0;
}

/**
 * Runs one JetStream append (`attempt`, which sends the same `Nats-Msg-Id` every time, so JetStream
 * stores it once) until it is acknowledged, retrying with backoff (100 ms doubling to 2 s) while the
 * stream has no leader or NATS is unreachable, a stall of several seconds being normal. Gives up
 * with ERR_CLUSTER_UNAVAILABLE (`what` and the cause) once `stopped()` or after APPEND_DEADLINE_MS;
 * `retrying` hears of each retry.
 */
export async function appendWithRetry(attempt: () => Promise<void>, stopped: () => boolean, what: string, retrying?: (err: unknown) => void): Promise<void> {
  const deadline = Date.now() + APPEND_DEADLINE_MS;
  let wait = 100;
  for (;;) {
    try {
      await attempt();
      return;
    } catch (err) {
      if (stopped() || Date.now() + wait > deadline) throw new BrokerError('ERR_CLUSTER_UNAVAILABLE', `${what}${(err as Error).message}`, { cause: err });
      retrying?.(err);
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 2000);
    }
  }
}
