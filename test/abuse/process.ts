import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';

const MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

/** A broker run as a child process (the built CLI), so its memory can be measured on its own. */
export interface BrokerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** Resident memory of the broker process in MiB (from /proc). */
  rssMb(): number;
  /** A fresh client connects, subscribes and receives its own message within `timeoutMs`. */
  healthy(timeoutMs?: number): Promise<boolean>;
  stop(): Promise<void>;
}

/** Starts `midge` with the memory store on a free port and `args`. */
export async function startBrokerProcess(args: string[]): Promise<BrokerProcess> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (npm test does)`);
  const child = spawn(process.execPath, [MAIN, '--host', '127.0.0.1', '--port', '0', '--ws-port', '-1', '--http-port', '-1', '--store', 'memory', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stdout += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`broker did not start: ${stdout}`)), 10_000);
    const check = () => {
      const line = stdout.split('\n').find((l) => l.includes('midge listening'));
      if (!line) return;
      clearTimeout(deadline);
      child.stdout?.off('data', check);
      resolve((JSON.parse(line) as { tcp: { port: number } }).tcp.port);
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => reject(new Error(`broker exited with ${code}: ${stdout}`)));
  });
  let checks = 0;
  return {
    child,
    port,
    rssMb() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    },
    async healthy(timeoutMs = 5000) {
      const topic = `health/${checks++}`;
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: timeoutMs });
      try {
        const got = new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), timeoutMs);
          c.on('message', (t, p) => t === topic && p.toString() === 'ok' && (clearTimeout(timer), resolve(true)));
        });
        await c.subscribeAsync(topic, { qos: 1 });
        await c.publishAsync(topic, 'ok', { qos: 1 });
        return await got;
      } finally {
        await c.endAsync(true);
      }
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The soft limit on open files of this process (the broker child inherits it). */
export function openFileLimit(): number {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const m = /Max open files\s+(\d+|unlimited)/.exec(limits);
  return m?.[1] === 'unlimited' ? Infinity : Number(m?.[1] ?? 0);
}
