import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { DropReason } from '../../src/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

let tb: TestBroker | undefined;
const raws: Wire[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  await tb?.close();
  tb = undefined;
});

type Publish = Packet & { messageId: number; payload: Buffer; qos: number; dup: boolean };

async function member(t: TestBroker, clientId: string, opts: { expiry?: number; receiveMaximum?: number; clean?: boolean } = {}): Promise<Wire> {
  const raw = await Wire.open(t.port, 5);
  raws.push(raw);
  const properties: Record<string, number> = { sessionExpiryInterval: opts.expiry ?? 0 };
  if (opts.receiveMaximum) properties.receiveMaximum = opts.receiveMaximum;
  await raw.handshake({ clientId, clean: opts.clean ?? true, properties });
  return raw;
}

async function joinGroup(raw: Wire, qos = 2): Promise<void> {
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/workers/jobs/#', qos }] } as Packet);
  await raw.next('suback');
}

async function publish(t: TestBroker, payload: string, qos: 1 | 2): Promise<void> {
  const c = await t.client({ protocolVersion: 5 });
  await c.publishAsync('jobs/1', payload, { qos });
}

describe('shared subscriptions: a member that goes away before acknowledging (MQTT 5 section 4.8.2)', () => {
  it('an unacknowledged QoS 1 message goes to another member when the first member session ends', async () => {
    tb = await startBroker();
    const a = await member(tb, 'a');
    await joinGroup(a);
    const b = await member(tb, 'b');
    await joinGroup(b);
    await publish(tb, 'job-1', 1);
    const first = (await a.next('publish')) as Publish; // round-robin starts with the first member
    expect(first.payload.toString()).toBe('job-1');
    a.close(); // no PUBACK; session expiry 0, so the session ends with the connection
    const second = (await b.next('publish')) as Publish;
    expect(second.payload.toString()).toBe('job-1');
    expect(second.qos).toBe(1);
  });

  it('[MQTT-4.8.2-5] a QoS 2 message already sent is not given to another member', async () => {
    const dropped: DropReason[] = [];
    tb = await startBroker({ plugins: [{ onDropped: (d) => void dropped.push(d.reason) }] });
    const a = await member(tb, 'a');
    await joinGroup(a);
    const b = await member(tb, 'b');
    await joinGroup(b);
    await publish(tb, 'job-2', 2);
    expect(((await a.next('publish')) as Publish).qos).toBe(2);
    a.close();
    await expect(b.next('publish', 500)).rejects.toThrow(/timed out/);
    expect(dropped).toContain('session-ended');
  });

  it('messages still queued (never sent) at the ended member go to another member at any QoS', async () => {
    tb = await startBroker();
    const a = await member(tb, 'a', { receiveMaximum: 1 });
    await joinGroup(a);
    const b = await member(tb, 'b');
    await joinGroup(b);
    // round-robin: 1st → a, 2nd → b, 3rd → a (queued behind the 1st: a's Receive Maximum is 1)
    await publish(tb, 'q2-1', 2);
    await publish(tb, 'q2-2', 2);
    await publish(tb, 'q2-3', 2);
    expect(((await a.next('publish')) as Publish).payload.toString()).toBe('q2-1');
    expect(((await b.next('publish')) as Publish).payload.toString()).toBe('q2-2');
    a.close();
    const moved = (await b.next('publish')) as Publish;
    expect(moved.payload.toString()).toBe('q2-3'); // the one a never received
    await expect(b.next('publish', 300)).rejects.toThrow(/timed out/); // q2-1 was sent to a: not moved
  });

  it('a member whose session lasts keeps its message and gets it again (DUP) when it reconnects', async () => {
    tb = await startBroker();
    const a = await member(tb, 'a', { expiry: 60 });
    await joinGroup(a);
    const b = await member(tb, 'b');
    await joinGroup(b);
    await publish(tb, 'job-3', 1);
    await a.next('publish');
    a.close();
    await expect(b.next('publish', 300)).rejects.toThrow(/timed out/);
    const back = await member(tb, 'a', { expiry: 60, clean: false });
    const again = (await back.next('publish')) as Publish;
    expect(again.payload.toString()).toBe('job-3');
    expect(again.dup).toBe(true);
  });

  it('when that session expires, the message goes to another member', async () => {
    tb = await startBroker();
    const a = await member(tb, 'a', { expiry: 1 });
    await joinGroup(a);
    const b = await member(tb, 'b');
    await joinGroup(b);
    await publish(tb, 'job-4', 1);
    await a.next('publish');
    a.close();
    const moved = (await b.next('publish', 4000)) as Publish;
    expect(moved.payload.toString()).toBe('job-4');
  });

  it('with every member offline, the message waits in one member session', async () => {
    tb = await startBroker();
    const a = await member(tb, 'a', { expiry: 60 });
    await joinGroup(a, 1);
    a.close();
    await a.waitClosed();
    await publish(tb, 'job-5', 1);
    const back = await member(tb, 'a', { expiry: 60, clean: false });
    expect(((await back.next('publish')) as Publish).payload.toString()).toBe('job-5');
  });

  it('the shared subscription of a queued delivery survives a restart of a durable broker', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'midge-shared-'));
    tb = await startBroker({ store: 'level', dataDir });
    const a = await member(tb, 'a', { expiry: 2 });
    await joinGroup(a, 1);
    a.close();
    await a.waitClosed();
    await publish(tb, 'job-6', 1); // queued for a, the only member
    await tb.close();
    tb = await startBroker({ store: 'level', dataDir });
    const b = await member(tb, 'b');
    await joinGroup(b, 1);
    const moved = (await b.next('publish', 5000)) as Publish; // a's session expires after the restart
    expect(moved.payload.toString()).toBe('job-6');
  });
});
