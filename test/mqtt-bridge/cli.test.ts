/**
 * The CLI with `bridges` in its config file: a bad bridge is refused at start with one line; an
 * unreachable remote does not stop the broker; SIGHUP applies a changed `bridges` (and keeps the
 * running ones when the new file is bad).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, brokerArgs, Lab, until, type BrokerProcess } from '../crash/helpers.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { freePort } from '../helpers/engines.js';

const lab = new Lab();
const remotes: TestBroker[] = [];
afterEach(async () => {
  await lab.cleanup();
  for (const r of remotes.splice(0)) await r.close();
});
beforeAll(() => assertBuilt());

function logged(broker: BrokerProcess, msg: string, bridge?: string): number {
  return broker.logs().filter((l) => l.msg === msg && (bridge === undefined || l.bridge === bridge)).length;
}

describe('midge CLI with MQTT bridges', () => {
  it('refuses a bad bridge at start with one line naming it', async () => {
    const dataDir = lab.dataDir();
    const file = path.join(path.dirname(dataDir), 'midge.yaml');
    writeFileSync(file, 'bridges:\n  - name: cloud\n    url: mqtt://127.0.0.1:1883\n    topics:\n      - { filter: "a/#/b", direction: out }\n');
    const broker = lab.spawn(dataDir, brokerArgs(dataDir, { extra: ['--config', file] }));
    const exit = await broker.exited;
    expect(exit.code).not.toBe(0);
    expect(broker.stderr.trim().split('\n')).toHaveLength(1);
    expect(broker.stderr).toContain('bridges[0].topics[0].filter: expected a valid topic filter');
  });

  it('starts with an unreachable remote, and SIGHUP adds, changes and removes bridges', { timeout: 60_000 }, async () => {
    const dataDir = lab.dataDir();
    const file = path.join(path.dirname(dataDir), 'midge.json');
    const unreachable = `mqtt://127.0.0.1:${await freePort()}`;
    const bridge = (name: string, url: string) => ({ name, url, reconnectDelay: 50, reconnectDelayMax: 200, topics: [{ filter: 'up/#', qos: 1 }] });
    writeFileSync(file, JSON.stringify({ bridges: [bridge('a', unreachable)] }));
    const midge = await lab.start(dataDir, { extra: ['--config', file] });
    await until(() => logged(midge, 'mqtt bridge down', 'a') >= 1, 'bridge a down', 10_000);
    expect(midge.running).toBe(true);

    const remote = await startBroker();
    remotes.push(remote);
    // a now points at a live remote, b is new
    writeFileSync(file, JSON.stringify({ bridges: [bridge('a', remote.url), bridge('b', remote.url)] }));
    midge.child.kill('SIGHUP');
    await until(() => logged(midge, 'mqtt bridge connected', 'a') >= 1 && logged(midge, 'mqtt bridge connected', 'b') >= 1, 'a and b connected', 10_000);
    expect(logged(midge, 'mqtt bridge reconfigured', 'a')).toBe(1);

    // A bad file keeps the running bridges
    writeFileSync(file, JSON.stringify({ bridges: [{ ...bridge('a', remote.url), url: 'ftp://x' }] }));
    midge.child.kill('SIGHUP');
    await until(() => midge.logs().some((l) => l.msg.startsWith('bridges reload failed, previous bridges kept')), 'the refused reload', 10_000);
    expect(logged(midge, 'mqtt bridge removed')).toBe(0);

    // b removed
    writeFileSync(file, JSON.stringify({ bridges: [bridge('a', remote.url)] }));
    midge.child.kill('SIGHUP');
    await until(() => logged(midge, 'mqtt bridge removed', 'b') === 1, 'b removed', 10_000);
    const sub = await remote.client();
    const got: string[] = [];
    sub.on('message', (t) => got.push(t));
    await sub.subscribeAsync('up/#', { qos: 1 });
    const pub = await lab.connectMqtt(midge.port);
    await pub.publishAsync('up/x', '1', { qos: 1 });
    await until(() => got.length >= 1, 'forwarded by a');
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual(['up/x']); // once: b is gone
    expect(midge.errors().filter((l) => !l.msg.startsWith('bridges reload failed'))).toEqual([]);
  });
});
