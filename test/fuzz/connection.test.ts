import net from 'node:net';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, startBroker, until, type TestBroker } from '../helpers/broker.js';
import { connectFrame, fuzzCase, type FuzzCase } from './frames.js';

/**
 * Property-based fuzzing of the broker's connection handling: batches of random, mutated and
 * hostile frames over real sockets, each batch followed by a health check. Bounded by
 * MIDGE_FUZZ_SECONDS (CI default 20 s; `npm run fuzz` runs longer) and a seed (MIDGE_FUZZ_SEED).
 */
const SECONDS = Number(process.env.MIDGE_FUZZ_SECONDS ?? 20);
const SEED = Number(process.env.MIDGE_FUZZ_SEED ?? Date.now() % 1_000_000);
const PARALLEL = 8;
const RUNS_PER_BATCH = 10;

let t: TestBroker;
/** Errors the broker logged: a handler that failed in an unexpected way is a bug, even if nothing crashed. */
const errors: string[] = [];
beforeAll(async () => {
  const logger = pino({ level: 'error' }, { write: (line: string) => void errors.push(line) });
  t = await startBroker({ maxPacketSize: 64 * 1024, connectTimeout: 1000, maxTopicLevels: 128, logger });
});
afterAll(async () => t?.close());

/** Writes one case on a fresh socket; resolves when the broker closed it or after a short wait. */
function exercise(c: FuzzCase, n: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(t.port, '127.0.0.1');
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(finish, 150);
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('data', () => undefined);
    socket.once('connect', () => {
      if (c.version !== 0) socket.write(connectFrame(c.version, n));
      socket.write(c.bytes);
    });
  });
}

let healthChecks = 0;
/** A fresh client connects, subscribes and receives its own message. */
async function healthCheck(): Promise<void> {
  const n = healthChecks++;
  const c = await t.client({ clientId: `health-${n}`, protocolVersion: n % 2 === 0 ? 5 : 4 });
  try {
    const got = collect(c);
    await c.subscribeAsync(`health/${n}`, { qos: 1 });
    await c.publishAsync(`health/${n}`, 'ok', { qos: 1 });
    await got.waitFor(1, 3000);
    expect(got.messages[0]?.payload).toBe('ok');
  } finally {
    await c.endAsync(true);
  }
}

describe('fuzzing connection handling', () => {
  it(`random, mutated and hostile frames never crash the broker; it stays healthy after each batch (${SECONDS} s, seed ${SEED})`, async () => {
    const deadline = Date.now() + SECONDS * 1000;
    let cases = 0;
    let batch = 0;
    while (Date.now() < deadline) {
      await fc.assert(
        fc.asyncProperty(fc.array(fuzzCase, { minLength: PARALLEL, maxLength: PARALLEL }), async (group) => {
          await Promise.all(group.map((c, i) => exercise(c, cases + i)));
          cases += group.length;
        }),
        { numRuns: RUNS_PER_BATCH, seed: SEED + batch, endOnFailure: true },
      );
      batch++;
      await healthCheck();
    }
    // Every fuzz socket is gone: nothing leaks per connection
    await until(() => t.broker.connectionStats.open === 0, 'all fuzz connections closed', 5000);
    expect(cases).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    console.log(`fuzz: ${cases} cases in ${batch} batches, seed ${SEED}, ${healthChecks} health checks passed`);
  }, (SECONDS + 60) * 1000);
});
