import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createInbox, headers, type NatsConnection } from 'nats';
import { Engine, installed } from '../helpers/engines.js';
import { AppendError, JetStreamAppender } from '../../src/cluster/appender.js';

const hasNats = installed('nats-server');
if (!hasNats) console.warn('SKIPPED: nats-server is not installed (apt-get install nats-server); JetStream appender tests skipped');

let nats: Engine;
let nc: NatsConnection;

beforeAll(async () => {
  if (!hasNats) return;
  nats = await Engine.nats();
  await nats.start();
  nc = await connect({ servers: `nats://127.0.0.1:${nats.port}`, noAsyncTraces: true });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: 'APPEND_T', subjects: ['append.t.>'], duplicate_window: 60 * 1e9 });
});
afterAll(async () => {
  await nc?.close();
  await nats?.destroy();
});

describe.skipIf(!hasNats)('pipelined JetStream appends (real nats-server)', () => {
  it('many outstanding appends each settle with their PubAck; a repeated message id is stored once', async () => {
    const appender = new JetStreamAppender(nc, createInbox(), 5000);
    const h = headers();
    const all: Promise<void>[] = [];
    for (let i = 0; i < 2000; i++) {
      h.set('Nats-Msg-Id', `m${i % 1500}`); // the last 500 repeat earlier ids
      all.push(appender.append(`append.t.${i % 7}`, new TextEncoder().encode(`p${i}`), h));
    }
    expect(appender.size).toBeGreaterThan(0);
    await Promise.all(all);
    expect(appender.size).toBe(0);
    const info = await (await nc.jetstreamManager()).streams.info('APPEND_T');
    expect(info.state.messages).toBe(1500);
    const stored = await (await nc.jetstreamManager()).streams.getMessage('APPEND_T', { seq: 2 });
    expect(new TextDecoder().decode(stored.data)).toBe('p1');
    appender.close();
  });

  it('an append no stream takes is refused, and one without an answer times out; close refuses the rest', async () => {
    const appender = new JetStreamAppender(nc, createInbox(), 300);
    await expect(appender.append('nostream.x', new Uint8Array([1]), headers())).rejects.toMatchObject({ code: '503' });
    // A plain subscriber that never answers stands in for a stream that does not acknowledge
    const silent = nc.subscribe('silent.x');
    await nc.flush();
    const started = Date.now();
    const err = await appender.append('silent.x', new Uint8Array([1]), headers()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppendError);
    expect((err as AppendError).code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const pending = appender.append('silent.x', new Uint8Array([2]), headers());
    appender.close();
    await expect(pending).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(appender.append('append.t.0', new Uint8Array([3]), headers())).rejects.toMatchObject({ code: 'CLOSED' });
    silent.unsubscribe();
  });

  it('a raw NATS/1.0 header block is sent as it is; a PubAck naming an error (after a stream name or not) refuses the append', async () => {
    const appender = new JetStreamAppender(nc, createInbox(), 5000);
    const jsm = await nc.jetstreamManager();
    const before = (await jsm.streams.info('APPEND_T')).state.last_seq;
    const block = (id: string, extra = '') => Buffer.from(`NATS/1.0\r\nNats-Msg-Id: ${id}\r\n${extra}\r\n`, 'latin1');
    await appender.append('append.t.raw', new TextEncoder().encode('r1'), block('raw-1'));
    await appender.append('append.t.raw', new TextEncoder().encode('r1 again'), block('raw-1')); // a duplicate is stored once
    const stored = await jsm.streams.getMessage('APPEND_T', { last_by_subj: 'append.t.raw' });
    expect(stored.seq).toBe(before + 1);
    expect(stored.header.get('Nats-Msg-Id')).toBe('raw-1');
    // JetStream refuses a wrong expected last sequence with an error PubAck
    const refused = await appender.append('append.t.raw', new Uint8Array([1]), block('raw-2', 'Nats-Expected-Last-Sequence: 1\r\n')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppendError);
    expect((refused as AppendError).code).toBe('400');
    expect((refused as AppendError).message).toMatch(/wrong last sequence/);
    appender.close();
  });
});
