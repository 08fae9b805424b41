/**
 * Child processes of the benchmarks that start their own servers (bench/cluster.ts,
 * bench/mqtt-bridge.ts): spawn with the output's tail kept for error messages, CPU and memory from
 * /proc, wait until a port accepts, stop by PID (SIGTERM, then SIGKILL after a grace period).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { clockTicksPerSecond, ProcProbe } from '../src/loadgen/proc.js';

export const HOST = '127.0.0.1';
const TICKS = clockTicksPerSecond();
/** Bytes of output kept for error messages. */
const OUTPUT_TAIL = 8192;
/** Time a process gets to exit after SIGTERM (Midge writes its CPU profile then) before SIGKILL. */
const STOP_GRACE_MS = 3000;

/** One child process, started in `cwd`, stopped by PID. */
export class ChildProc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly probe: ProcProbe;
  output = '';

  constructor(name: string, command: string, args: readonly string[], cwd: string) {
    this.name = name;
    this.child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.probe = new ProcProbe(this.child.pid ?? 0, TICKS);
    const keep = (d: Buffer) => (this.output = (this.output + d.toString()).slice(-OUTPUT_TAIL));
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Peak resident memory (VmHWM) in MB. */
  peakRssMb(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  }

  /** SIGTERM, SIGKILL if it lingers; resolves once the process is gone. */
  async stop(): Promise<void> {
    if (!this.running) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Waits until `port` accepts a connection; fails with the process's output when it exits or after `timeoutMs`. */
export async function accepting(port: number, proc: ChildProc, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, HOST, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (!proc.running || Date.now() > deadline) throw new Error(`${proc.name} not listening on ${port}: ${proc.output.slice(-2000)}`);
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
