import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';

const run = promisify(execFile);
const hasMosquittoClients = await run('mosquitto_pub', ['--help']).then(
  () => true,
  (err: NodeJS.ErrnoException & { stdout?: string }) => err.code !== 'ENOENT',
);
if (!hasMosquittoClients) console.warn('SKIPPED: mosquitto_pub/mosquitto_sub are not installed (apt-get install mosquitto-clients)');

let t: TestBroker | undefined;
afterEach(async () => t?.close());

/** Runs mosquitto_sub until it has printed `count` messages. */
function subscribe(port: number, args: string[]): { output: Promise<string>; ready: Promise<void> } {
  // stdbuf: mosquitto_sub block-buffers stdout when it is a pipe
  const child = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-h', '127.0.0.1', '-p', String(port), '-v', '-d', ...args]);
  let stdout = '';
  let stderr = '';
  const ready = new Promise<void>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('SUBACK')) resolve();
    });
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('SUBACK')) resolve();
    });
  });
  const output = new Promise<string>((resolve) => {
    const timer = setTimeout(() => child.kill(), 8000);
    // 'close', not 'exit': the last lines of stdout may arrive after the process has exited
    child.on('close', () => {
      clearTimeout(timer);
      resolve(stdout);
    });
  });
  return { output, ready };
}

const lines = (out: string) => out.split('\n').filter((l) => l.startsWith('site/'));

describe.skipIf(!hasMosquittoClients)('interoperability with mosquitto_pub / mosquitto_sub', () => {
  for (const version of ['mqttv31', 'mqttv311', 'mqttv5'] as const) {
    it(`carries QoS 0/1/2 messages between ${version} clients`, async () => {
      t = await startBroker();
      const sub = subscribe(t.port, ['-V', version, '-q', '2', '-t', 'site/+/temperature', '-C', '3']);
      await sub.ready;
      for (const qos of ['0', '1', '2']) {
        await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(t.port), '-V', version, '-q', qos, '-t', 'site/room-3/temperature', '-m', `q${qos}`]);
      }
      const out = lines(await sub.output);
      expect(out).toEqual(['site/room-3/temperature q0', 'site/room-3/temperature q1', 'site/room-3/temperature q2']);
    });
  }

  it('delivers a retained message to a later mosquitto_sub and clears it with an empty payload', async () => {
    t = await startBroker();
    const pub = ['-h', '127.0.0.1', '-p', String(t.port), '-t', 'site/room-1/setpoint'];
    await run('mosquitto_pub', [...pub, '-r', '-q', '1', '-m', '22']);
    const first = subscribe(t.port, ['-t', 'site/#', '-C', '1']);
    expect(lines(await first.output)).toEqual(['site/room-1/setpoint 22']);
    await run('mosquitto_pub', [...pub, '-r', '-n']);
    expect(t.broker.retainedCount).toBe(0);
  });
});
