/** `midge log list|stat|read`, through the running broker's admin socket and from the directory. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { assertBuilt, Lab, until, type BrokerProcess } from '../crash/helpers.js';
import { midgeLog, startMidgeLog } from '../helpers/midge-log.js';

const lab = new Lab();
afterEach(() => lab.cleanup());

async function brokerWithBridge(): Promise<{ broker: BrokerProcess; dataDir: string; cwd: string }> {
  assertBuilt();
  const dataDir = lab.dataDir();
  const config = path.join(lab.tempDir(), 'midge.json');
  const bridge = { streams: { telemetry: { maxBytes: 1_000_000, maxAgeSeconds: 3600 } }, rules: [{ filter: 'tele/#', stream: 'telemetry' }] };
  writeFileSync(config, JSON.stringify({ bridge }));
  const broker = await lab.start(dataDir, { extra: ['--config', config] });
  return { broker, dataDir, cwd: path.dirname(dataDir) };
}

async function publish(broker: BrokerProcess, payloads: string[]): Promise<void> {
  const client = await lab.connectMqtt(broker.port, { protocolVersion: 5 });
  for (const p of payloads) await client.publishAsync('tele/a', p, { qos: 1, properties: { userProperties: { k: 'v' } } });
  await client.endAsync();
}

// Each test runs the broker and several `midge log` processes one after the other: slow on a loaded machine
describe('midge log', () => {
  it('lists, stats and reads a stream through the running broker, with a consumer group that resumes', async () => {
    const { broker, dataDir, cwd } = await brokerWithBridge();
    await publish(broker, ['a', 'b', 'c', 'd']);
    const list = await midgeLog(cwd, ['list', '--data-dir', dataDir]);
    expect(list.stdout).toMatch(/^telemetry\trecords 4 \(offsets 0\.\.3\)\tbytes \d+\tretention maxBytes 1000000, maxAge 3600s\tgroups -$/m);
    const stat = await midgeLog(cwd, ['stat', 'telemetry', '--data-dir', dataDir, '--json']);
    expect(JSON.parse(stat.stdout)).toMatchObject({ name: 'telemetry', first: 0, next: 4, records: 4 });
    const text = await midgeLog(cwd, ['read', 'telemetry', '--data-dir', dataDir, '--from', '2']);
    expect(text.stdout.trim().split('\n').map((l) => l.split('\t'))).toEqual([
      ['2', expect.stringMatching(/^\d{4}-/), 'tele/a', 'qos1', '"c"'],
      ['3', expect.stringMatching(/^\d{4}-/), 'tele/a', 'qos1', '"d"'],
    ]);
    const first = await midgeLog(cwd, ['read', 'telemetry', '--data-dir', dataDir, '--group', 'etl', '--limit', '3', '--json']);
    const records = first.stdout.trim().split('\n').map((l) => JSON.parse(l) as { payload: string; properties: unknown });
    expect(records.map((r) => r.payload)).toEqual(['a', 'b', 'c']);
    expect(records[0]?.properties).toEqual({ userProperties: { k: 'v' } });
    const second = await midgeLog(cwd, ['read', 'telemetry', '--data-dir', dataDir, '--group', 'etl', '--json']);
    expect(second.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { payload: string }).payload)).toEqual(['d']);
    expect((await midgeLog(cwd, ['list', '--data-dir', dataDir])).stdout).toMatch(/groups etl@4/);
  }, 60_000);

  it('--follow prints records as they arrive until interrupted', async () => {
    const { broker, dataDir, cwd } = await brokerWithBridge();
    await publish(broker, ['before']);
    const follow = startMidgeLog(cwd, ['read', 'telemetry', '--data-dir', dataDir, '--follow', '--json']);
    await until(() => follow.output().includes('before'), 'the existing record');
    await publish(broker, ['after-1', 'after-2']);
    await until(() => follow.output().includes('after-2'), 'the new records');
    follow.child.kill('SIGINT');
    const { code, stdout } = await follow.done;
    expect(code).toBe(0);
    expect(stdout.trim().split('\n').map((l) => (JSON.parse(l) as { payload: string }).payload)).toEqual(['before', 'after-1', 'after-2']);
  }, 60_000);

  it('reads the directory when the broker is stopped, and explains bad input on one line', async () => {
    const { broker, dataDir, cwd } = await brokerWithBridge();
    await publish(broker, ['x']);
    broker.child.kill('SIGTERM');
    await broker.exited;
    const read = await midgeLog(cwd, ['read', 'telemetry', '--data-dir', dataDir, '--json']);
    expect(read.code).toBe(0);
    expect(JSON.parse(read.stdout)).toMatchObject({ offset: 0, payload: 'x', topic: 'tele/a' });
    const follow = await midgeLog(cwd, ['read', 'telemetry', '--data-dir', dataDir, '--follow']);
    expect([follow.code, follow.stderr]).toEqual([2, 'midge: --follow needs the running broker (no admin socket in the data directory)\n']);
    const unknown = await midgeLog(cwd, ['read', 'nope', '--data-dir', dataDir]);
    expect([unknown.code, unknown.stderr]).toEqual([1, 'midge: unknown log stream: "nope" (streams: telemetry)\n']);
    const badFrom = await midgeLog(cwd, ['read', 'telemetry', '--from', 'x', '--data-dir', dataDir]);
    expect([badFrom.code, badFrom.stderr]).toEqual([2, 'midge: --from expects a non-negative integer, got "x"\n']);
    const noDir = await midgeLog(cwd, ['list', '--data-dir', path.join(cwd, 'missing')]);
    expect(noDir.code).toBe(2);
    expect(noDir.stderr).toMatch(/is not a Midge data directory/);
  }, 60_000);
});
