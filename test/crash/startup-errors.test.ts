/**
 * A data directory the broker cannot use stops the CLI at once, with a non-zero exit and one line
 * on stderr that names the directory, instead of a stack trace or a broker that serves nothing.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { ClassicLevel } from 'classic-level';
import { assertBuilt, brokerArgs, Lab, type BrokerProcess } from './helpers.js';

const lab = new Lab();
afterEach(() => lab.cleanup());

/** Waits for a broker that should refuse to start; fails if it listens instead. */
async function refused(broker: BrokerProcess, timeoutMs = 10_000): Promise<{ code: number | null; stderr: string }> {
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(resolve, timeoutMs, 'timeout').unref());
  const exit = await Promise.race([broker.exited, timeout]);
  if (exit === 'timeout') throw new Error(`the broker did not exit within ${timeoutMs} ms; stdout: ${broker.stdout}`);
  expect(exit.signal).toBeNull();
  return { code: exit.code, stderr: broker.stderr };
}

function expectOneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^midge: /);
  expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
  return lines[0] as string;
}

describe('startup errors on the data directory', () => {
  it('a data directory written by a newer format makes the CLI exit non-zero, naming the path', async () => {
    assertBuilt();
    const dataDir = lab.dataDir();
    const db = new ClassicLevel<string, string>(dataDir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.open();
    await db.put('meta\u0000format', '99');
    await db.close();

    const broker = lab.spawn(dataDir, brokerArgs(dataDir));
    const { code, stderr } = await refused(broker);
    expect(code).not.toBe(0);
    const line = expectOneLine(stderr);
    expect(line).toContain(dataDir);
    expect(line).toMatch(/format 99/);
    expect(line).toMatch(/newer/);
  });

  it('a second broker on a data directory in use exits non-zero with a clear message; the first keeps serving', async () => {
    assertBuilt();
    const dataDir = lab.dataDir();
    const first = await lab.start(dataDir);
    const second = lab.spawn(dataDir, brokerArgs(dataDir));
    const { code, stderr } = await refused(second);
    expect(code).not.toBe(0);
    const line = expectOneLine(stderr);
    expect(line).toContain(dataDir);
    expect(line).toMatch(/another Midge|in use|lock/i);
    // The first broker's store is untouched: it still acknowledges a QoS 1 message after a commit
    const wire = await lab.wire(first.port, 5);
    await wire.connect('still-serving');
    await wire.barrier(1);
    expect(first.running).toBe(true);
  });

  it('a data directory freed by a kill -9 is usable at once (no stale lock)', async () => {
    assertBuilt();
    const dataDir = lab.dataDir();
    const first = await lab.start(dataDir);
    const second = await lab.crashAndRestart(first);
    expect(second.running).toBe(true);
    expect(lab.brokerErrors()).toEqual([]);
  });
});
