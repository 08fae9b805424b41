/**
 * Crash-test harness: spawns the built CLI (`dist/src/cli/main.js`) on a data directory, kills it
 * with SIGKILL, restarts it on the same directory, and speaks MQTT to it over raw mqtt-packet
 * frames (full control of packet ids, DUP and withheld acknowledgements) or mqtt.js.
 *
 * A `Lab` owns every process, socket, client and temporary directory a test opens; `cleanup()`
 * (run in afterEach) releases them even when the test failed halfway.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { Wire } from '../helpers/wire.js';

export { Wire };

/** The CLI entry point the crash tests run (MIDGE_CRASH_MAIN runs another build under the same tests). */
export const MAIN = process.env.MIDGE_CRASH_MAIN ?? fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

/** Fails with a clear message when the broker has not been built. */
export function assertBuilt(): void {
  if (!existsSync(MAIN)) {
    throw new Error(`${MAIN} is missing: the crash tests run the built CLI; build first with \`npx tsc -p tsconfig.json\``);
  }
}

/** Keeps at most this much of a child's output (the tail), so a chatty broker cannot grow memory. */
const MAX_OUTPUT = 1 << 20;
/** How long a broker may take to log 'midge listening'. */
const START_TIMEOUT_MS = 10_000;

/** One JSON line the broker logged (pino). */
export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** How a broker process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One `midge` child process. */
export class BrokerProcess {
  readonly child: ChildProcess;
  /** Working directory (the parent of the data directory, so nothing lands in the repository). */
  readonly cwd: string;
  readonly args: readonly string[];
  readonly exited: Promise<Exit>;
  stdout = '';
  stderr = '';
  /** The TCP port from the 'midge listening' line (0 until then). */
  port = 0;
  /** True once this harness sent SIGKILL (an exit without it is a broker crash). */
  killedByTest = false;

  /** `env`: variables added to this process's environment for the child (e.g. a MIDGE_CRASH_* hook); a restart does not keep them. */
  constructor(cwd: string, args: readonly string[], env?: Readonly<Record<string, string>>) {
    this.cwd = cwd;
    this.args = args;
    this.child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd, env: env && { ...process.env, ...env } });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.child.stdout?.on('data', (d: Buffer) => (this.stdout = tail(this.stdout + d.toString())));
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr = tail(this.stderr + d.toString())));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Sends SIGKILL now (synchronously), if the process still runs. */
  kill(): void {
    if (!this.running) return;
    this.killedByTest = true;
    this.child.kill('SIGKILL');
  }

  /** kill -9 and wait until the process is gone. */
  async crash(): Promise<void> {
    this.kill();
    const exit = await this.exited;
    if (exit.signal !== 'SIGKILL') throw new Error(`broker exited by itself (${describeExit(exit)}) before the kill; stderr: ${this.stderr}`);
  }

  /** Every JSON line logged so far. */
  logs(): LogLine[] {
    const lines: LogLine[] = [];
    for (const line of this.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        // a line cut by the output cap or by the kill
      }
    }
    return lines;
  }

  /** Log lines at error level or above (pino: 50 error, 60 fatal). */
  errors(): LogLine[] {
    return this.logs().filter((l) => l.level >= 50);
  }

  /** Waits for the 'midge listening' line and records the TCP port. */
  async listening(timeoutMs = START_TIMEOUT_MS): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const entry = this.logs().find((l) => l.msg === 'midge listening') as (LogLine & { tcp?: { port: number } }) | undefined;
      if (entry?.tcp) {
        this.port = entry.tcp.port;
        return this.port;
      }
      if (!this.running) throw new Error(`midge exited (${describeExit(await this.exited)}) before listening; stderr: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no 'midge listening' line within ${timeoutMs} ms; stdout: ${this.stdout} stderr: ${this.stderr}`);
      await sleep(10);
    }
  }
}

function tail(s: string): string {
  return s.length > MAX_OUTPUT ? s.slice(s.length - MAX_OUTPUT) : s;
}

function describeExit(exit: Exit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

/** Options for one broker run. */
export interface RunOptions {
  durability?: 'fsync' | 'batch' | 'none';
  /** Extra CLI flags. */
  extra?: readonly string[];
}

/** The command line every crash test uses (loopback only, no WebSocket, JSON logs at info). */
export function brokerArgs(dataDir: string, options: RunOptions = {}): string[] {
  const args = ['--host', '127.0.0.1', '--port', '0', '--ws-port', '-1', '--http-port', '-1', '--data-dir', dataDir, '--log-level', 'info'];
  if (options.durability) args.push('--durability', options.durability);
  return [...args, ...(options.extra ?? [])];
}

/** Owns a test's processes, sockets, clients and temporary directories. */
export class Lab {
  readonly #brokers: BrokerProcess[] = [];
  readonly #wires: Wire[] = [];
  readonly #clients: MqttClient[] = [];
  readonly #dirs: string[] = [];

  /** A fresh, empty temporary directory (removed by cleanup). */
  tempDir(prefix = 'midge-crash-'): string {
    const dir = mkdtempSync(path.join(tmpdir(), prefix));
    this.#dirs.push(dir);
    return dir;
  }

  /** A path for a data directory that does not exist yet, inside a fresh temporary directory. */
  dataDir(): string {
    return path.join(this.tempDir(), 'data');
  }

  /** Spawns the CLI with `args` (and `env` added) without waiting for it to listen (for startup errors). */
  spawn(dataDir: string, args: readonly string[], env?: Readonly<Record<string, string>>): BrokerProcess {
    const broker = new BrokerProcess(path.dirname(dataDir), args, env);
    this.#brokers.push(broker);
    return broker;
  }

  /** Starts a broker on `dataDir` and waits until it listens. */
  async start(dataDir: string, options: RunOptions = {}): Promise<BrokerProcess> {
    const broker = this.spawn(dataDir, brokerArgs(dataDir, options));
    await broker.listening();
    return broker;
  }

  /** Starts a new broker on the data directory (and flags) of one that has exited. */
  async restart(previous: BrokerProcess): Promise<BrokerProcess> {
    if (previous.running) throw new Error('restart() needs the previous broker to have exited');
    const broker = new BrokerProcess(previous.cwd, previous.args);
    this.#brokers.push(broker);
    await broker.listening();
    return broker;
  }

  /** kill -9, then a restart on the same data directory. */
  async crashAndRestart(broker: BrokerProcess): Promise<BrokerProcess> {
    await broker.crash();
    return this.restart(broker);
  }

  /** Opens a raw MQTT connection (replies parsed as `version`). */
  async wire(port: number, version: 3 | 4 | 5 = 5): Promise<Wire> {
    const wire = await Wire.open(port, version);
    this.#wires.push(wire);
    return wire;
  }

  /**
   * Creates an mqtt.js client without waiting for CONNACK, so that 'message' listeners are in place
   * before queued messages arrive right after it; await `connected(client)`.
   */
  mqtt(port: number, options: IClientOptions = {}): MqttClient {
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    client.on('error', () => undefined); // surfaced through connected() or the test's own checks
    this.#clients.push(client);
    return client;
  }

  /** Connects an mqtt.js client and waits for CONNACK. */
  async connectMqtt(port: number, options: IClientOptions = {}): Promise<MqttClient> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    this.#clients.push(client);
    return client;
  }

  /** Error-level log lines of every broker this lab ran, with the run they came from. */
  brokerErrors(): LogLine[] {
    return this.#brokers.flatMap((b) => b.errors());
  }

  /** Closes clients and sockets, kills leftover brokers and removes temporary directories. */
  async cleanup(): Promise<void> {
    for (const wire of this.#wires.splice(0)) wire.close();
    await Promise.all(this.#clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    const brokers = this.#brokers.splice(0);
    for (const broker of brokers) broker.kill();
    await Promise.all(brokers.map((b) => b.exited));
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

export { connected } from '../helpers/broker.js';
export { prng } from '../helpers/prng.js';

/** The seed for kill moments: MIDGE_CRASH_SEED when set (to explore), else `fallback`. */
export function seedFrom(fallback: number): number {
  const env = process.env.MIDGE_CRASH_SEED;
  return env !== undefined && /^\d+$/.test(env) ? Number(env) : fallback;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 10 ms until it holds; rejects with `what` after `timeoutMs`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
