/**
 * External engines for the sink tests: nats-server (JetStream) and redis-server, each started on a
 * free loopback port with its own data directory, killable with SIGKILL and restartable on the
 * same port and directory. A test skips itself when the binary is missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** True when `binary --version` runs. */
export function installed(binary: string): boolean {
  return spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function accepting(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One engine server process, restartable on the same port and directory. */
export class Engine {
  readonly port: number;
  readonly dir: string;
  /** The server name (NATS cluster members), or undefined. */
  readonly name: string | undefined;
  readonly #command: (port: number, dir: string) => [string, string[]];
  #child: ChildProcess | undefined;
  #output = '';

  private constructor(port: number, command: (port: number, dir: string) => [string, string[]], name?: string) {
    this.port = port;
    this.name = name;
    this.dir = mkdtempSync(path.join(tmpdir(), 'midge-engine-'));
    this.#command = command;
  }

  /** nats-server with JetStream. */
  static async nats(): Promise<Engine> {
    return new Engine(await freePort(), (port, dir) => ['nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir]]);
  }

  /**
   * `size` nats-servers with JetStream forming one NATS cluster over routes on free loopback ports
   * (server names `<cluster>-1`, …, which stream info reports as leaders and replicas). Start each;
   * JetStream answers once the servers have elected a meta leader (see `jetStreamReady`).
   */
  static async natsCluster(size = 3, clusterName = `mc${process.pid}`): Promise<Engine[]> {
    const clientPorts: number[] = [];
    const routePorts: number[] = [];
    for (let i = 0; i < size; i++) {
      clientPorts.push(await freePort());
      routePorts.push(await freePort());
    }
    const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
    return clientPorts.map(
      (clientPort, i) =>
        new Engine(
          clientPort,
          (port, dir) => ['nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir, '--server_name', `${clusterName}-${i + 1}`, '--cluster_name', clusterName, '--cluster', `nats://127.0.0.1:${routePorts[i]}`, '--routes', routes]],
          `${clusterName}-${i + 1}`,
        ),
    );
  }

  /** redis-server with an fsynced append-only file, so a kill -9 loses nothing it acknowledged. */
  static async redis(): Promise<Engine> {
    return new Engine(await freePort(), (port, dir) => [
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, '--daemonize', 'no'],
    ]);
  }

  /** Starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    const [binary, args] = this.#command(this.port, this.dir);
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (this.#output = (this.#output + d.toString()).slice(-20_000)));
    child.stderr?.on('data', (d: Buffer) => (this.#output = (this.#output + d.toString()).slice(-20_000)));
    this.#child = child;
    await accepting(this.port, 10_000).catch((err: Error) => {
      throw new Error(`${err.message}; ${binary} output: ${this.#output}`);
    });
  }

  /** Stops the server's process (SIGSTOP): its clients' calls hang, as in a stall, until `resume`. */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  /** Lets a paused server go on (SIGCONT). */
  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  /** kill -9 and wait for the exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Kills the server and removes its directory. */
  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
