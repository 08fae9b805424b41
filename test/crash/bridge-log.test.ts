/**
 * The bridge log across kill -9: every QoS 1/2 message the broker acknowledged (PUBACK, PUBREC) and
 * that matches a rule is in the log, because its record joined the commit that made the message
 * durable. QoS 2 is there exactly once, and each QoS level in publish order. Read back with the
 * `midge log` CLI, through the running broker's admin socket and from the directory after a stop.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { assertBuilt, Lab, prng, seedFrom } from './helpers.js';
import { midgeLog } from '../helpers/midge-log.js';
import { parsePayload, publishThroughCrashes, type PublishRun } from './publisher.js';

const lab = new Lab();
afterEach(() => lab.cleanup());

function killPlan(seed: number, count: number): { acks: number; delayMs: number }[] {
  const rand = prng(seed);
  const at = (lo: number, hi: number) => Math.floor(lo + rand() * (hi - lo));
  return [at(count * 0.2, count * 0.8), at(count * 1.1, count * 1.5), at(count * 1.6, count * 2.9)].map((acks) => ({ acks, delayMs: at(0, 5) }));
}

/** The log holds every acknowledged message; QoS 2 exactly once; first copies in publish order. */
function checkLog(run: PublishRun, payloads: string[], count: number): void {
  const entries = payloads.map((p) => parsePayload(p));
  const q1 = entries.filter((e) => e.qos === 1).map((e) => e.seq);
  const q2 = entries.filter((e) => e.qos === 2).map((e) => e.seq);
  const lost = run.messages.filter((m) => m.acknowledged && !(m.qos === 1 ? q1 : q2).includes(m.seq)).map((m) => `q${m.qos}:${m.seq}`);
  expect(lost, 'acknowledged messages missing from the log').toEqual([]);
  expect(q2, 'QoS 2: exactly once, in order').toEqual([...Array(count).keys()]);
  // QoS 1 is at least once: a message committed but not acknowledged before a kill is resent, and appended again
  const resent = new Set(run.messages.filter((m) => m.qos === 1 && m.resent).map((m) => m.seq));
  const firsts = q1.filter((seq, i) => q1.indexOf(seq) === i);
  expect(firsts, 'QoS 1 first copies in order').toEqual([...Array(count).keys()]);
  expect(q1.filter((seq, i) => q1.indexOf(seq) !== i && !resent.has(seq)), 'QoS 1 duplicates never resent').toEqual([]);
}

describe('bridge log: kill -9 while publishing', () => {
  it('every acknowledged QoS 1/2 message matching a rule is in the log, QoS 2 exactly once, in order', async () => {
    assertBuilt();
    const count = 200;
    const dataDir = lab.dataDir();
    const config = path.join(lab.tempDir(), 'midge.json');
    writeFileSync(config, JSON.stringify({ bridge: { rules: [{ filter: 'crash/#', stream: 'crash', qos: [1, 2] }] } }));
    const broker = await lab.start(dataDir, { durability: 'fsync', extra: ['--config', config] });
    const plan = killPlan(seedFrom(5150), count);
    const run = await publishThroughCrashes(lab, broker, { clientId: 'log-publisher', count, prefix: 'crash', window: 32, kills: plan });
    expect(run.crashes).toBe(3);
    expect(run.resentPublishes + run.resentPubrels, 'the kills caught messages in flight').toBeGreaterThan(0);
    run.broker = await lab.crashAndRestart(run.broker);
    const cwd = path.dirname(dataDir);
    // Through the running broker's admin socket
    const live = await midgeLog(cwd, ['read', 'crash', '--data-dir', dataDir, '--json', '--limit', '10000']);
    expect(live.stderr).toBe('');
    const payloads = live.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { payload: string }).payload);
    checkLog(run, payloads, count);
    const offsets = live.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { offset: number }).offset);
    expect(offsets, 'offsets increase by one').toEqual([...Array(offsets.length).keys()]);
    // From the directory, once the broker has stopped
    run.broker.child.kill('SIGTERM');
    await run.broker.exited;
    const offline = await midgeLog(cwd, ['read', 'crash', '--data-dir', dataDir, '--json', '--limit', '10000']);
    expect(offline.stdout).toBe(live.stdout);
    expect(lab.brokerErrors()).toEqual([]);
  }, 45_000);
});
