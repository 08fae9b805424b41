/**
 * A real Mosquitto broker for the bridge tests: started on a free loopback port with a config of
 * the test's choosing, in its own directory, stopped by PID (SIGTERM, or SIGKILL for a crash) and
 * restartable on the same port and directory. Tests skip themselves, saying so, when it is absent.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/engines.js';

/** The mosquitto binary, or undefined when it is not installed. */
export const MOSQUITTO = ['mosquitto', '/usr/sbin/mosquitto'].find((bin) => spawnSync(bin, ['-h'], { stdio: 'ignore' }).error === undefined);

/** One mosquitto process, restartable on the same port and directory. */
export class Mosquitto {
  readonly port: number;
  readonly dir: string;
  readonly #config: string;
  #child: ChildProcess | undefined;
  output = '';

  private constructor(port: number, extra: string) {
    this.port = port;
    this.dir = mkdtempSync(path.join(tmpdir(), 'midge-mosquitto-'));
    // Started as root, mosquitto drops to its own user, which must be able to write its persistence file here
    chmodSync(this.dir, 0o777);
    this.#config = path.join(this.dir, 'mosquitto.conf');
    const base = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', `persistence_location ${this.dir}/`, 'log_dest stderr'];
    writeFileSync(this.#config, `${[...base, extra].join('\n')}\n`);
  }

  /** Starts mosquitto on a free port with `extra` config lines. */
  static async start(extra = '', port?: number): Promise<Mosquitto> {
    const m = new Mosquitto(port ?? (await freePort()), extra);
    await m.restart();
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Starts (again) and waits until it accepts connections. */
  async restart(): Promise<void> {
    if (MOSQUITTO === undefined) throw new Error('mosquitto is not installed');
    const child = spawn(MOSQUITTO, ['-c', this.#config], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-50_000)));
    this.#child = child;
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null) throw new Error(`mosquitto exited: ${this.output}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${this.port}: ${this.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops it (SIGTERM, so it saves its persistence file; SIGKILL for a crash) and waits for the exit. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
