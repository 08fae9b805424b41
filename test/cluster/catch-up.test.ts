/**
 * The cluster catch-up's parts against a real nats-server (docs/cluster.md, *Flow control across
 * nodes*): the stream reader ends a read only where JetStream counts no more messages, deletes the
 * consumers it made, and a behind session keeps its stored backlog in the stream while offline and
 * takes no message twice across episodes. The Session and ClusterCatchUp are the broker's own; the
 * connection is an outlet that records what would be written to the socket.
 */
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Session, type Outlet, type SessionDeps } from '../../src/broker/session.js';
import type { Subscription } from '../../src/broker/subscription.js';
import { ClusterCatchUp } from '../../src/cluster/catch-up.js';
import { readStored, StoredCursor, type StoredSource } from '../../src/cluster/stream-reader.js';
import type { Delivery } from '../../src/broker/inflight.js';
import type { Message, QoS } from '../../src/model.js';
import { encodeMessage } from '../../src/store/records.js';
import { hasNats, until, useNats } from '../helpers/cluster.js';

const env = useNats('cluster catch-up tests');

function message(id: number, qos: QoS = 1): Message {
  return { id, topic: 't', payload: Buffer.from(String(id)), qos, retain: false, properties: undefined, expiresAt: undefined } as unknown as Message;
}

function subscription(qos: QoS): Subscription {
  return { clientId: 'c1', filter: 't', qos, noLocal: false, retainAsPublished: false, retainHandling: 0, group: undefined, identifier: undefined } as unknown as Subscription;
}

const noop = (): void => undefined;

describe.skipIf(!hasNats)('cluster catch-up: the stream reader and a behind session (real nats-server)', () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let source: StoredSource;

  beforeEach(async () => {
    const prefix = env.prefix('cu');
    nc = await env.connect();
    js = nc.jetstream();
    jsm = await nc.jetstreamManager();
    const messages = `${prefix}_MSGS`;
    await jsm.streams.add({ name: messages, subjects: [`${prefix}.msgs.>`] });
    source = { js, nc, messages, prefix };
  });

  afterEach(async () => {
    env.nats.resume();
    await nc.close();
  });

  async function store(count: number, qos: QoS = 1, subject = 't'): Promise<void> {
    for (let i = 1; i <= count; i++) await js.publish(`${source.prefix}.msgs.${subject}`, encodeMessage(message(i, qos)));
  }

  it('a JetStream stall in the middle of a read (longer than a pull waits) is not the end of the stream: every stored message is handed out, in order', async () => {
    const total = 600;
    await store(total);
    const taken: number[] = [];
    let paused = false;
    let ended = false;
    // As the catch-up does: a read that fails is tried again from the last message taken, with new consumers
    for (let attempt = 0; attempt < 10 && !ended; attempt++) {
      const cursor = new StoredCursor(source, [`${source.prefix}.msgs.t`], taken.at(-1) ?? 0);
      try {
        await cursor.read(100, (m) => {
          taken.push(m.seq);
          if (taken.length === 250 && !paused) {
            paused = true;
            env.nats.pause(); // a leader election: JetStream answers nothing for 6 s
            setTimeout(() => env.nats.resume(), 6000);
          }
          return true;
        });
        ended = true;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 500));
      } finally {
        await cursor.close();
      }
    }
    expect(paused).toBe(true);
    expect(taken).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  }, 60_000);

  it('a read of several subjects deletes the consumers it made', async () => {
    const subjects = ['a', 'b', 'c', 'd'];
    for (const s of subjects) await store(5, 1, s);
    const seen: number[] = [];
    const abort = new AbortController();
    const info = await jsm.streams.info(source.messages);
    for await (const m of readStored(source, subjects.map((s) => `${source.prefix}.msgs.${s}`), 1, info.state.last_seq, abort.signal)) seen.push(m.seq);
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const consumers = await jsm.consumers.list(source.messages).next();
    expect(consumers).toHaveLength(0);
  }, 30_000);

  /** A persistent session on the broker's Session, behind the real catch-up, with `limit` queued at most. */
  function behindSession(limit: number, inflight: number, qos: QoS, position: () => number) {
    const dropped: string[] = [];
    const floors: number[] = [];
    const catchUp = new ClusterCatchUp({ logger: pino({ level: 'silent' }), stallTimeout: 30_000, store: { behind: (_c, seq) => floors.push(seq), resumed: noop }, current: () => true });
    catchUp.join({ ...source, position } as unknown as Parameters<ClusterCatchUp['join']>[0]);
    const deps: SessionDeps = {
      limits: { maxMessages: limit, maxBytes: 1e9, policy: 'drop-oldest' },
      maxInflight: inflight,
      events: { dropped: (_s, m, r) => dropped.push(`${m.id}:${r}`), delivered: noop, pageFailed: noop, reroute: () => false },
      journal: { added: noop, updated: noop, removed: noop, rewritten: noop, frontier: noop, inboundAdded: noop, inboundReleased: noop },
      pager: undefined,
      gate: undefined,
      flow: { stallTimeout: 30_000, pressured: noop, relieved: noop },
      catchUp,
    };
    const session = new Session('c1', deps);
    session.expireAfter(3600);
    session.addSubscription(subscription(qos));
    const sent: { id: number; packetId: number; dup: boolean }[] = [];
    const outlet: Outlet = {
      protocolVersion: 4,
      info: undefined,
      receiveMaximum: 65535,
      congested: false,
      sendPublish: (d: Delivery, dup: boolean) => {
        sent.push({ id: d.message.id, packetId: d.packetId, dup });
        return undefined;
      },
      sendPubrel: noop,
    };
    return { session, catchUp, outlet, sent, dropped, floors };
  }

  it('a behind persistent session that goes offline keeps its stored backlog in the stream (nothing dropped, the floor stays), and reads on once it is back', async () => {
    const total = 1000;
    await store(total);
    const { session, catchUp, outlet, sent, dropped, floors } = behindSession(100, 10, 1, () => total);
    session.attach(outlet);
    for (let i = 1; i <= total; i++) session.deliver(message(i), 1, false, undefined); // 10 in flight, 100 queued, the rest left to the catch-up
    expect(catchUp.figures().behind).toBe(1);
    let acknowledged = 0;
    const ack = (n: number) => {
      for (const s of sent.splice(0, n)) {
        session.acknowledge(s.packetId);
        acknowledged++;
      }
    };
    while (acknowledged < 60) ack(60 - acknowledged); // under half: the catch-up reads the queue full again and fetches ahead
    await until(() => catchUp.figures().read > 0, 'a read back');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const floor = floors.at(-1) ?? 0;
    session.detach(); // the connection goes (a takeover by another node, a network blip)
    await new Promise((resolve) => setTimeout(resolve, 2500)); // the catch-up's sweep has run
    expect(dropped).toEqual([]);
    expect(floors.at(-1)).toBe(floor);
    expect(catchUp.figures().behind).toBe(1);
    // Back on this node: every message once (after the resends of what was in flight), nothing dropped
    sent.length = 0;
    session.attach(outlet);
    const firsts = new Set<number>();
    await until(() => {
      for (const s of sent) firsts.add(s.id);
      ack(sent.length);
      return catchUp.figures().behind === 0 && session.queuedCount === 0 && session.inflightCount === 0;
    }, 'the backlog to be read back and acknowledged', 30_000);
    expect(dropped).toEqual([]);
    expect(firsts.size).toBe(total - 60);
    expect(Math.min(...firsts)).toBe(61);
    catchUp.stop();
  }, 60_000);

  it('QoS 2: a live copy of a message read back in an earlier episode, arriving during the next one, is not delivered twice', async () => {
    let position = 0;
    const stored = async (from: number, to: number) => {
      for (let i = from; i <= to; i++) await js.publish(`${source.prefix}.msgs.t`, encodeMessage(message(i, 2)));
    };
    await stored(1, 4);
    const { session, catchUp, outlet, sent, dropped } = behindSession(1, 1, 2, () => position);
    session.attach(outlet);
    const live = (i: number) => {
      position = Math.max(position, i);
      session.deliver(message(i, 2), 2, false, undefined);
    };
    const completeAll = async () => {
      for (let k = 0; k < 40 && catchUp.figures().behind > 0; k++) {
        for (const s of sent.filter((x) => !x.dup)) {
          session.received(s.packetId, false);
          session.completed(s.packetId);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      for (const s of sent) {
        session.received(s.packetId, false);
        session.completed(s.packetId);
      }
    };
    // Episode 1: 1 in flight, 2 queued; 3 and 4 meet the full queue and are read back
    for (let i = 1; i <= 4; i++) live(i);
    await completeAll();
    // Episode 2 from 6; meanwhile the live copy of 3 comes late (a gap replay of a message NATS dropped on its way)
    expect(catchUp.figures().episodes).toBe(1);
    await stored(5, 8);
    for (let i = 5; i <= 8; i++) live(i);
    expect(catchUp.figures().episodes).toBe(2);
    session.deliver(message(3, 2), 2, false, undefined);
    await completeAll();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await completeAll();
    const firsts = sent.filter((s) => !s.dup).map((s) => s.id);
    expect(firsts).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(dropped).toEqual([]);
    catchUp.stop();
  }, 60_000);
});
