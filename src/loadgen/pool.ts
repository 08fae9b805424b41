import { BenchClient } from './client.js';
import type { Endpoint } from './endpoint.js';
import type { ScenarioContext } from './metrics.js';

/** Where a pool's clients connect, as whom and how patiently. */
export interface PoolOptions {
  endpoint: Endpoint;
  timeoutMs: number;
  /** Prepended to every client id. */
  clientIdPrefix?: string;
  username?: string;
  password?: string;
}

/** How connectMany opens its clients. */
export interface ConnectManyOptions {
  /** Handshakes in progress at once (default 50). */
  concurrency?: number;
  /** Keepalive in seconds (default 60). */
  keepalive?: number;
  /** false keeps each client's session on the broker (default true). */
  cleanSession?: boolean;
}

/** What tryConnectMany achieved: the clients that connected and why the others did not. */
export interface ConnectOutcome {
  clients: BenchClient[];
  /** One reason per connection that failed, in order of failure. */
  failures: string[];
  /** Milliseconds from starting each successful connection to its CONNACK. */
  connectMs: number[];
}

/** Owns every client a scenario opens, so one closeAll() in a finally block releases them all. */
export class ClientPool {
  readonly #options: PoolOptions;
  readonly #clients: BenchClient[] = [];
  readonly #lost: string[] = [];

  /** Creates an empty pool. */
  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Connects `count` clients named `<prefix>-<i>`; rejects with the first failure. */
  async connectMany(prefix: string, count: number, options: ConnectManyOptions = {}): Promise<BenchClient[]> {
    const outcome = await this.tryConnectMany(prefix, count, options);
    if (outcome.failures.length > 0) throw new Error(outcome.failures[0]);
    return outcome.clients;
  }

  /** Connects `count` clients named `<prefix>-<i>`, at most `concurrency` handshakes at a time, and keeps going past failures. */
  async tryConnectMany(prefix: string, count: number, options: ConnectManyOptions = {}): Promise<ConnectOutcome> {
    const { concurrency = 50, keepalive = 60, cleanSession = true } = options;
    const outcome: ConnectOutcome = { clients: [], failures: [], connectMs: [] };
    for (let first = 0; first < count; first += concurrency) {
      const batch: Promise<void>[] = [];
      for (let i = first; i < Math.min(count, first + concurrency); i++) {
        batch.push(this.#connectInto(outcome, `${prefix}-${i}`, keepalive, cleanSession));
      }
      await Promise.all(batch);
    }
    return outcome;
  }

  /** Reasons of connections that dropped without being closed by the pool. */
  get lost(): readonly string[] {
    return this.#lost;
  }

  /** Clients currently open. */
  get size(): number {
    return this.#clients.filter((client) => client.connected).length;
  }

  /** Sends a PINGREQ on every open client. */
  pingAll(): void {
    for (const client of this.#clients) client.ping();
  }

  /** Closes every client. */
  closeAll(): void {
    for (const client of this.#clients) client.close();
    this.#clients.length = 0;
  }

  async #connectInto(outcome: ConnectOutcome, name: string, keepalive: number, cleanSession: boolean): Promise<void> {
    const started = performance.now();
    try {
      const client = await this.#connectOne(name, keepalive, cleanSession);
      outcome.clients.push(client);
      outcome.connectMs.push(performance.now() - started);
    } catch (err) {
      outcome.failures.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async #connectOne(name: string, keepalive: number, cleanSession: boolean): Promise<BenchClient> {
    const { endpoint, timeoutMs, clientIdPrefix = '', username, password } = this.#options;
    const clientId = `${clientIdPrefix}${name}`;
    const client = await BenchClient.connect({ endpoint, clientId, keepalive, cleanSession, timeoutMs, username, password });
    this.#clients.push(client);
    client.setHandlers({ onLost: (reason) => this.#lost.push(`${clientId}: ${reason}`) });
    return client;
  }
}

/** A pool for the broker, identity and client-id prefix of `context`. */
export function poolFor(context: ScenarioContext, timeoutMs: number): ClientPool {
  const { endpoint, clientIdPrefix, username, password } = context;
  return new ClientPool({ endpoint, timeoutMs, clientIdPrefix, username, password });
}
