import { chmodSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Log } from './log.js';
import type { LogRecord } from './record.js';

/** The admin socket of a data directory. */
export function adminSocketPath(dataDir: string): string {
  return path.join(dataDir, 'midge-admin.sock');
}

/** Longest request line accepted, in bytes. */
const MAX_REQUEST = 64 * 1024;
/** Longest a `read` may wait for records. */
const MAX_WAIT_MS = 30_000;
/** Connections served at once. */
const MAX_CONNECTIONS = 32;

/** A request on the admin socket (one JSON object per line; one JSON answer per line). */
export type AdminRequest =
  | { op: 'list' }
  | { op: 'status' }
  | { op: 'stat'; stream: string }
  | { op: 'read'; stream: string; from?: number; limit?: number; group?: string; waitMs?: number }
  | { op: 'commit'; stream: string; group: string; offset: number };

/** A record as JSON: the payload in base64. */
export interface RecordJson extends Omit<LogRecord, 'payload' | 'properties'> {
  payload: string;
  properties?: Record<string, unknown>;
}

/** JSON form of a record. */
export function recordToJson(r: LogRecord): RecordJson {
  const out: RecordJson = { stream: r.stream, offset: r.offset, timestamp: r.timestamp, topic: r.topic, qos: r.qos, retain: r.retain, payload: r.payload.toString('base64') };
  if (r.properties) {
    const { correlationData, ...rest } = r.properties;
    out.properties = correlationData === undefined ? rest : { ...rest, correlationData: correlationData.toString('base64') };
  }
  return out;
}

/**
 * Serves `midge log` while the broker runs (LevelDB allows one process per directory): a unix
 * socket in the data directory, readable and writable by the broker's user only.
 */
export class AdminServer {
  readonly path: string;
  readonly #log: Log;
  readonly #status: () => unknown;
  readonly #logger: Logger;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #abort = new AbortController();

  constructor(socketPath: string, log: Log, status: () => unknown, logger: Logger) {
    this.path = socketPath;
    this.#log = log;
    this.#status = status;
    this.#logger = logger;
    this.#server = net.createServer((socket) => this.#serve(socket));
    this.#server.maxConnections = MAX_CONNECTIONS;
  }

  /** Listens; a socket file left by a killed broker is replaced (the store's lock proves it is stale). */
  async listen(): Promise<void> {
    if (Buffer.byteLength(this.path) > 100) {
      this.#logger.warn({ path: this.path }, 'admin socket path too long for a unix socket; `midge log` cannot read while the broker runs');
      return;
    }
    rmSync(this.path, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.path, () => resolve());
    });
    this.#server.on('error', (err) => this.#logger.error({ err }, 'admin socket error'));
    chmodSync(this.path, 0o600);
  }

  #serve(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    let chain = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      if (buffered.length > MAX_REQUEST) {
        socket.end(`${JSON.stringify({ ok: false, error: 'request too long' })}\n`);
        return;
      }
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        chain = chain.then(() => this.#answer(line)).then((answer) => {
          if (!socket.destroyed) socket.write(`${JSON.stringify(answer)}\n`);
        });
      }
    });
  }

  async #answer(line: string): Promise<unknown> {
    try {
      const request = JSON.parse(line) as AdminRequest;
      return { ok: true, ...(await this.#handle(request)) };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }

  async #handle(request: AdminRequest): Promise<Record<string, unknown>> {
    switch (request.op) {
      case 'list':
        return { streams: this.#log.list() };
      case 'status':
        return { status: this.#status() };
      case 'stat':
        return { stream: this.#log.stat(request.stream) };
      case 'commit':
        await this.#log.commitGroup(request.stream, request.group, request.offset);
        return {};
      case 'read':
        return { records: (await this.#read(request)).map(recordToJson) };
      default:
        throw new Error(`unknown op ${JSON.stringify((request as { op?: unknown }).op)}`);
    }
  }

  async #read(request: Extract<AdminRequest, { op: 'read' }>): Promise<LogRecord[]> {
    const { stream, group, limit } = request;
    const from = request.from ?? (group === undefined ? undefined : this.#log.groupOffset(stream, group));
    let records = await this.#log.read(stream, { from, limit });
    const waitMs = Math.min(Math.max(0, request.waitMs ?? 0), MAX_WAIT_MS);
    if (records.length === 0 && waitMs > 0) {
      const signal = AbortSignal.any([AbortSignal.timeout(waitMs), this.#abort.signal]);
      await this.#log.waitFor(stream, from ?? this.#log.stat(stream).next, signal);
      if (!this.#abort.signal.aborted) records = await this.#log.read(stream, { from, limit });
    }
    return records;
  }

  async close(): Promise<void> {
    this.#abort.abort();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    if (this.#server.listening) await closed;
    rmSync(this.path, { force: true });
  }
}
