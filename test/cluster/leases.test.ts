/**
 * Sink leases (src/cluster/leases.ts) against a real nats-server's KV bucket: a holder whose
 * renewals hang stops shipping within the TTL, and a position only moves forward.
 */
import type { KV, NatsConnection } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { SinkLease, type LeaseRecord } from '../../src/cluster/leases.js';
import { eventually, hasNats, useNats } from '../helpers/cluster.js';

const lab = useNats('the sink lease tests');

describe.skipIf(!hasNats)('sink leases in KV', () => {
  const opened: NatsConnection[] = [];
  const leases: SinkLease[] = [];
  afterEach(async () => {
    lab.nats.resume();
    await Promise.all(leases.splice(0).map((l) => l.stop().catch(() => undefined)));
    await Promise.all(opened.splice(0).map((nc) => nc.close().catch(() => undefined)));
  });

  async function bucket(): Promise<KV> {
    const nc = await lab.connect();
    opened.push(nc);
    return (await nc.jetstream()).views.kv(`${lab.prefix('lease')}_LEASES`, { history: 1 });
  }

  function lease(kv: KV, ttlMs: number): { lease: SinkLease; events: string[]; acquired: Promise<number | undefined> } {
    const events: string[] = [];
    let acquired!: (cursor: number | undefined) => void;
    const first = new Promise<number | undefined>((resolve) => (acquired = resolve));
    const l = new SinkLease(kv, 'sink1', { node: 'n1', incarnation: 'i1' }, ttlMs, {
      acquired: (cursor) => {
        events.push(`acquired ${cursor}`);
        acquired(cursor);
      },
      lost: (reason) => events.push(`lost: ${reason}`),
      failed: () => undefined,
    });
    leases.push(l);
    return { lease: l, events, acquired: first };
  }

  async function storedCursor(kv: KV): Promise<number | undefined> {
    return (await kv.get('sink1'))?.json<LeaseRecord>().cursor;
  }

  it('a holder whose renewals hang (NATS stalled) stops within the TTL, not when the call gives up', async () => {
    const kv = await bucket();
    const held = lease(kv, 1500);
    held.lease.start();
    await held.acquired;
    // Right after a renewal: the next one is due in TTL/3 and hangs with the stalled server
    const renewedAt = Date.now();
    lab.nats.pause();
    await eventually(async () => held.events.some((e) => e.startsWith('lost')) || undefined, 'the lease lost on a stalled NATS', 10_000);
    const lostAfter = Date.now() - renewedAt;
    lab.nats.resume();
    expect(held.events.at(-1)).toBe('lost: no renewal succeeded within the lease TTL');
    // The TTL from the last renewal that succeeded, not the KV call's own timeout (5 s)
    expect(lostAfter).toBeLessThan(1500 + 1000);
    expect(held.lease.status().held).toBe(false);
  }, 30_000);

  it('a position behind the one held (a stopped runner saving late) does not move the stored position back', async () => {
    const kv = await bucket();
    const held = lease(kv, 3000);
    held.lease.start();
    expect(await held.acquired).toBeUndefined();
    held.lease.saveCursor(80);
    await eventually(async () => ((await storedCursor(kv)) === 80 ? true : undefined), 'position 80 stored', 10_000);
    held.lease.saveCursor(50);
    // The next renewal writes what the lease holds
    const revision = (await kv.get('sink1'))?.revision ?? 0;
    await eventually(async () => (((await kv.get('sink1'))?.revision ?? 0) > revision ? true : undefined), 'a renewal', 10_000);
    expect(await storedCursor(kv)).toBe(80);
    held.lease.saveCursor(81);
    await eventually(async () => ((await storedCursor(kv)) === 81 ? true : undefined), 'position 81 stored', 10_000);
  }, 30_000);
});
