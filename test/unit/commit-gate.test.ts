import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CommitGate, type CommitObserver } from '../../src/broker/persistence/commit-gate.js';
import { Outbox, type PendingSend } from '../../src/broker/outbox.js';
import type { Delivery } from '../../src/broker/inflight.js';
import { LevelStore } from '../../src/store/level.js';
import { GatedStore } from '../helpers/gated-store.js';

const root = mkdtempSync(path.join(tmpdir(), 'midge-gate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Records what the gate hands out, in order. */
function recorder(): { log: string[]; acks: { send(c: string, a: string): void; refuse(c: string, a: string): void; failed(err: unknown): void }; observer(name: string): CommitObserver } {
  const log: string[] = [];
  return {
    log,
    acks: { send: (c, a) => log.push(`ack ${c} ${a}`), refuse: (c, a) => log.push(`refused ${c} ${a}`), failed: () => log.push('reported') },
    observer: (name) => ({ committed: (b) => log.push(`committed ${name} ${b}`), failed: (b) => log.push(`failed ${name} ${b}`) }),
  };
}

async function open(name: string): Promise<LevelStore> {
  const store = new LevelStore(path.join(root, name));
  await store.open();
  return store;
}

describe('CommitGate', () => {
  it('after the commit: acknowledgements first, then each observer once, in arrival order', async () => {
    const store = await open('a');
    const { log, acks, observer } = recorder();
    const gate = new CommitGate<string, string>(store, acks);
    const s1 = observer('s1');
    expect(gate.note(s1)).toBe(1);
    gate.ack('c1', 'puback');
    expect(gate.note(s1), 'the same commit').toBe(1);
    gate.ack('c2', 'pubrec');
    expect(log, 'nothing before the commit').toEqual([]);
    await store.flush();
    await Promise.resolve();
    expect(log).toEqual(['ack c1 puback', 'ack c2 pubrec', 'committed s1 1']);
    await store.close();
  });

  it('what is noted while a commit runs belongs to the next one', async () => {
    const store = await open('b');
    const { log, acks, observer } = recorder();
    const gate = new CommitGate<string, string>(store, acks);
    const s1 = observer('s1');
    store.saveMessageIdFloor(10);
    expect(gate.note(s1)).toBe(1);
    await new Promise((resolve) => setImmediate(resolve)); // the first commit starts
    store.saveMessageIdFloor(20);
    expect(gate.note(s1)).toBe(2);
    await store.flush();
    await Promise.resolve();
    expect(log).toEqual(['committed s1 1', 'committed s1 2']);
    await store.close();
  });

  it('a failed commit refuses its acknowledgements and tells its observers; one with no acknowledgement is reported', async () => {
    const store = new GatedStore();
    const { log, acks, observer } = recorder();
    const gate = new CommitGate<string, string>(store, acks);
    gate.ack('c1', 'puback');
    gate.note(observer('s1'));
    store.fail();
    await Promise.resolve();
    await Promise.resolve();
    // Every flush() of this store is a commit of its own: the note went to the second one
    expect(log).toEqual(['refused c1 puback', 'reported', 'failed s1 2']);
  });
});

/** An Outbox over a fake gate whose batches the test commits by number. */
function outboxLab(window = 10): { outbox: Outbox; sent: string[]; frontiers: number[]; commit(batch: number): void; batch: { id: number } } {
  const sent: string[] = [];
  const frontiers: number[] = [];
  const batch = { id: 1 };
  const outbox = new Outbox({
    note: () => batch.id,
    writeFrontier: (seq) => frontiers.push(seq),
    rewrite: () => undefined,
    transmit: (send: PendingSend) => sent.push(`${send.pubrel ? 'pubrel' : 'publish'} ${send.delivery.seq}${send.dup ? ' dup' : ''}`),
    window,
  });
  return { outbox, sent, frontiers, batch, commit: (id) => outbox.committed(id) };
}

function delivery(seq: number): Delivery {
  return { message: { id: seq } as Delivery['message'], qos: 1, retain: false, subscriptionIds: undefined, packetId: seq, state: 'publish', seq };
}

describe('Outbox', () => {
  it('a new delivery waits for the commit of its record and of a frontier covering it', () => {
    const { outbox, sent, frontiers, commit } = outboxLab();
    outbox.recordWritten(1);
    outbox.publish(delivery(1), false);
    expect(frontiers).toEqual([1]);
    expect(sent).toEqual([]);
    commit(1);
    expect(sent).toEqual(['publish 1']);
  });

  it('a delivery whose record and frontier are committed goes at once; later ones keep their order behind a waiting one', () => {
    const { outbox, sent, batch, commit } = outboxLab();
    for (let seq = 1; seq <= 3; seq++) outbox.recordWritten(seq);
    outbox.publish(delivery(1), false);
    commit(1);
    batch.id = 2;
    outbox.publish(delivery(2), false); // record committed, frontier (exactly 1) not: waits for batch 2
    outbox.publish(delivery(3), false);
    expect(sent).toEqual(['publish 1']);
    commit(2);
    expect(sent).toEqual(['publish 1', 'publish 2', 'publish 3']);
  });

  it('while acknowledgements flow the frontier runs ahead, so queued deliveries go without waiting', () => {
    const { outbox, sent, frontiers, batch, commit } = outboxLab(10);
    for (let seq = 1; seq <= 30; seq++) outbox.recordWritten(seq);
    outbox.publish(delivery(1), false);
    commit(1);
    batch.id = 2;
    for (let i = 0; i < 5; i++) outbox.completed();
    commit(2); // 5 deliveries completed in that commit: the frontier may run 10 ahead
    batch.id = 3;
    outbox.publish(delivery(2), false); // frontier 1 does not cover 2: a lead of 10, written at 2 + 10 + 2, waits
    commit(3);
    batch.id = 4;
    // Covered by 14: at once; from 5 on the lead is short, so 17 is written, and nothing waits for it
    for (let seq = 3; seq <= 7; seq++) outbox.publish(delivery(seq), false);
    expect(frontiers).toEqual([1, 14, 17]);
    expect(sent).toEqual(['publish 1', 'publish 2', 'publish 3', 'publish 4', 'publish 5', 'publish 6', 'publish 7']);
  });

  it('a PUBREL waits for the commit of the state it follows; after a restart deliveries up to the frontier are marked sent', () => {
    const { outbox, sent, batch, commit } = outboxLab();
    outbox.restore(40, 25);
    expect([outbox.sentBeforeRestart(25), outbox.sentBeforeRestart(26)]).toEqual([true, false]);
    batch.id = 5;
    outbox.pubrel(delivery(3), outbox.stateWritten());
    expect(sent).toEqual([]);
    commit(5);
    expect(sent).toEqual(['pubrel 3']);
  });
});
