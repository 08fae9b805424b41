import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ClassicLevel } from 'classic-level';
import { isBrokerError } from '../../src/errors.js';
import { LevelStore } from '../../src/store/level.js';
import { storeContract } from './contract.js';

const root = mkdtempSync(path.join(tmpdir(), 'midge-level-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => path.join(root, `db-${n++}`);

for (const durability of ['fsync', 'batch', 'none'] as const) {
  storeContract(`LevelStore (${durability})`, {
    create: async () => new LevelStore(fresh(), durability),
    reopen: async (previous) => new LevelStore((previous as LevelStore).path, durability),
  });
}

describe('LevelStore', () => {
  it('groups the writes of one event-loop turn into one commit', async () => {
    const store = new LevelStore(fresh(), 'fsync');
    await store.open();
    for (let i = 1; i <= 500; i++) store.deleteMessage(i);
    await store.flush();
    expect(store.stats.commits).toBe(1);
    expect(store.stats.maxBatch).toBe(500);
    await store.close();
  });

  it('flush() resolves in order, after every earlier commit', async () => {
    const store = new LevelStore(fresh(), 'fsync');
    await store.open();
    const order: number[] = [];
    store.saveMessageIdFloor(1);
    const first = store.flush().then(() => order.push(1));
    await new Promise((r) => setImmediate(r)); // the first commit is now running
    const second = store.flush().then(() => order.push(2)); // nothing new written: still waits
    await Promise.all([first, second]);
    expect(order).toEqual([1, 2]);
    await store.close();
  });

  it('a failed commit that nobody waits for is reported to onError; one with a waiter is not', async () => {
    const errors: Error[] = [];
    const store = new LevelStore(fresh(), 'fsync', (err) => errors.push(err));
    await store.open();
    await store.close(); // every later commit fails
    store.saveMessageIdFloor(5);
    const waited = store.flush().catch((err: unknown) => err);
    expect(isBrokerError(await waited, 'ERR_STORE_WRITE'), 'the waiter hears of it').toBe(true);
    expect(errors).toEqual([]);
    store.deleteRetained('t'); // a write nobody waits for (e.g. a retained QoS 0 publish)
    const deadline = Date.now() + 5000;
    while (errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(errors.map((e) => isBrokerError(e, 'ERR_STORE_WRITE'))).toEqual([true]);
    expect(store.stats.errors).toBe(2);
  });

  it('refuses a store written in a newer format, naming the path', async () => {
    const dir = fresh();
    const db = new ClassicLevel(dir);
    await db.put('meta\u0000format', '99');
    await db.close();
    const err = await new LevelStore(dir).open().catch((e: unknown) => e);
    expect(isBrokerError(err, 'ERR_STORE_FORMAT')).toBe(true);
    expect((err as Error).message).toContain(dir);
    expect((err as Error).message).toContain('newer');
  });

  it('refuses a directory whose data has no format marker', async () => {
    const dir = fresh();
    const db = new ClassicLevel(dir);
    await db.put('something', 'else');
    await db.close();
    const err = await new LevelStore(dir).open().catch((e: unknown) => e);
    expect(isBrokerError(err, 'ERR_STORE_FORMAT')).toBe(true);
  });

  it('gives a clear error naming the path for a corrupt store', async () => {
    const dir = fresh();
    const store = new LevelStore(dir);
    await store.open();
    await store.close();
    writeFileSync(path.join(dir, 'CURRENT'), 'garbage\n');
    const err = await new LevelStore(dir).open().catch((e: unknown) => e);
    expect(isBrokerError(err, 'ERR_STORE_OPEN')).toBe(true);
    expect((err as Error).message).toContain(dir);
  });

  it('refuses a data directory that another store holds open', async () => {
    const dir = fresh();
    const first = new LevelStore(dir);
    await first.open();
    const err = await new LevelStore(dir).open().catch((e: unknown) => e);
    expect(isBrokerError(err, 'ERR_STORE_OPEN')).toBe(true);
    expect((err as Error).message).toMatch(/another Midge/);
    await first.close();
  });
});
