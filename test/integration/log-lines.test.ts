import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/index.js';
import { startBroker, until, type TestBroker } from '../helpers/broker.js';

let t: TestBroker | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('connect and refusal lines carry the client id and username (issue 18 §4)', () => {
  it('a connected client and a refused one are logged with who they said they were', async () => {
    const out = new PassThrough();
    const entries: Record<string, unknown>[] = [];
    out.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line.trim()) entries.push(JSON.parse(line) as Record<string, unknown>);
    });
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-loglines-'));
    const passwords = path.join(dir, 'passwd');
    writeFileSync(passwords, `alice:${await hashPassword(Buffer.from('pw'))}\n`);
    t = await startBroker({ passwordFile: passwords, logger: pino({ level: 'info' }, out) });
    await t.client({ clientId: 'kitchen', username: 'alice', password: 'pw' });
    await t.client({ clientId: 'garage', username: 'alice', password: 'wrong', protocolVersion: 5 }).catch(() => undefined);
    await until(() => entries.some((e) => e.msg === 'connection refused'), 'the refusal line');
    expect(entries.find((e) => e.msg === 'client connected')).toMatchObject({ clientId: 'kitchen', username: 'alice', listener: 'tcp' });
    expect(entries.find((e) => e.msg === 'connection refused')).toMatchObject({ clientId: 'garage', username: 'alice', listener: 'tcp', code: 'ERR_BAD_CREDENTIALS' });
  });
});

describe('broker.stats (issue 18, defect 8)', () => {
  it('connectionsByListener counts a TCP client, and shows in JSON like the other counters', async () => {
    t = await startBroker();
    await t.client();
    await t.client({ ws: true });
    expect(t.broker.stats.connectionsTotal).toBe(2);
    expect(JSON.parse(JSON.stringify(t.broker.stats)).connectionsByListener).toEqual({ tcp: 1, ws: 1 });
  });
});
