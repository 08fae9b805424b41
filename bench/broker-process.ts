import { spawn } from 'node:child_process';
import type { ChildProcess, Serializable, StdioOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { BrokerSpec } from './brokers.js';
import type { BrokerMode } from './scenario.js';
import { pause } from '../src/loadgen/wait.js';

/** Bytes of broker output kept for error messages. */
const OUTPUT_TAIL = 8192;
/** Attempts (100 ms apart) to reach the broker's port after spawning it. */
const CONNECT_ATTEMPTS = 100;
/** Time a broker gets to exit after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 3000;
/** Longest wait for the answer to an IPC query. */
const QUERY_TIMEOUT_MS = 5000;

/** One broker under test, running as a child process on a free 127.0.0.1 port. */
export class BrokerProcess {
  readonly name: string;
  readonly port: number;
  readonly #child: ChildProcess;
  readonly #workDir: string;
  #output = '';
  #exit: string | undefined;

  private constructor(name: string, port: number, child: ChildProcess, workDir: string) {
    this.name = name;
    this.port = port;
    this.#child = child;
    this.#workDir = workDir;
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', (code, signal) => {
      this.#exit = `exited with ${signal ?? `code ${String(code)}`}`;
    });
    child.on('error', (err) => {
      this.#exit = `failed to start: ${err.message}`;
    });
  }

  /** Spawns `spec` in `mode` on a free port and resolves once it accepts TCP connections. */
  static async start(spec: BrokerSpec, host: string, mode: BrokerMode): Promise<BrokerProcess> {
    const port = await freePort(host);
    const workDir = mkdtempSync(path.join(os.tmpdir(), `midge-bench-${spec.name}-`));
    const { command, args, ipc = false } = spec.launch(host, port, workDir, mode);
    const stdio: StdioOptions = ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
    const child = spawn(command, args, { stdio, cwd: workDir });
    const broker = new BrokerProcess(spec.name, port, child, workDir);
    try {
      await broker.#waitForPort(host);
      return broker;
    } catch (err) {
      await broker.stop();
      throw err;
    }
  }

  /** Operating-system process id of the broker. */
  get pid(): number {
    const pid = this.#child.pid;
    if (pid === undefined) throw new Error(`${this.name} has no pid`);
    return pid;
  }

  /** Why the broker exited, or undefined while it runs. */
  get exitReason(): string | undefined {
    return this.#exit;
  }

  /** The last lines the broker printed. */
  get outputTail(): string {
    return this.#output;
  }

  /** Whether the broker was started with an IPC channel and so answers query(). */
  get queryable(): boolean {
    return this.#child.connected;
  }

  /** Sends `request` over the IPC channel and resolves with the broker's next message. */
  query(request: Serializable): Promise<unknown> {
    if (!this.#child.connected) return Promise.reject(new Error(`${this.name} has no IPC channel`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#child.off('message', answer);
        reject(new Error(`${this.name} did not answer a query within ${QUERY_TIMEOUT_MS} ms`));
      }, QUERY_TIMEOUT_MS);
      const answer = (message: unknown): void => {
        clearTimeout(timer);
        resolve(message);
      };
      this.#child.once('message', answer);
      this.#child.send(request);
    });
  }

  /** SIGTERM, then SIGKILL after a grace period; removes the scratch directory. */
  async stop(): Promise<void> {
    if (this.#exit === undefined) {
      this.#child.kill('SIGTERM');
      for (let waited = 0; waited < STOP_GRACE_MS && this.#exit === undefined; waited += 50) await pause(50);
      if (this.#exit === undefined) this.#child.kill('SIGKILL');
    }
    rmSync(this.#workDir, { recursive: true, force: true });
  }

  /** Immediate SIGKILL, for process-exit cleanup where nothing may be awaited. */
  kill(): void {
    if (this.#exit === undefined) this.#child.kill('SIGKILL');
    rmSync(this.#workDir, { recursive: true, force: true });
  }

  async #waitForPort(host: string): Promise<void> {
    for (let attempt = 0; attempt < CONNECT_ATTEMPTS; attempt++) {
      if (this.#exit !== undefined) break;
      if (await canConnect(host, this.port)) return;
      await pause(100);
    }
    const reason = this.#exit ?? `not accepting connections on ${host}:${this.port}`;
    throw new Error(`${this.name} ${reason}\n${this.#output}`);
  }
}

/** A port that was free on `host` a moment ago. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not determine a free port'));
      });
    });
  });
}

/** Whether a TCP connection to host:port succeeds within a second. */
function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
