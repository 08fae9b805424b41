import { BenchClient } from './client.js';

/** Where a pool's clients connect and how patiently. */
export interface PoolOptions {
  host: string;
  port: number;
  timeoutMs: number;
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

/** Owns every client a scenario opens, so one closeAll() in a finally block releases them all. */
export class ClientPool {
  readonly #options: PoolOptions;
  readonly #clients: BenchClient[] = [];
  readonly #lost: string[] = [];

  /** Creates an empty pool. */
  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Connects `count` clients named `<prefix>-<i>`, at most `concurrency` handshakes at a time. */
  async connectMany(prefix: string, count: number, options: ConnectManyOptions = {}): Promise<BenchClient[]> {
    const { concurrency = 50, keepalive = 60, cleanSession = true } = options;
    const connected: BenchClient[] = [];
    for (let first = 0; first < count; first += concurrency) {
      const batch: Promise<BenchClient>[] = [];
      for (let i = first; i < Math.min(count, first + concurrency); i++) {
        batch.push(this.#connectOne(`${prefix}-${i}`, keepalive, cleanSession));
      }
      for (const outcome of await Promise.allSettled(batch)) {
        if (outcome.status === 'rejected') throw asError(outcome.reason);
        connected.push(outcome.value);
      }
    }
    return connected;
  }

  /** Reasons of connections that dropped without being closed by the pool. */
  get lost(): readonly string[] {
    return this.#lost;
  }

  /** Clients currently open. */
  get size(): number {
    return this.#clients.filter((client) => client.connected).length;
  }

  /** Closes every client. */
  closeAll(): void {
    for (const client of this.#clients) client.close();
    this.#clients.length = 0;
  }

  async #connectOne(clientId: string, keepalive: number, cleanSession: boolean): Promise<BenchClient> {
    const { host, port, timeoutMs } = this.#options;
    const client = await BenchClient.connect({ host, port, clientId, keepalive, cleanSession, timeoutMs });
    this.#clients.push(client);
    client.setHandlers({ onLost: (reason) => this.#lost.push(`${clientId}: ${reason}`) });
    return client;
  }
}

/** Normalises a rejection reason. */
function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}
