/**
 * Write-ahead of outbound QoS 1/2 PUBLISH: a persistent subscriber stays online and acknowledges
 * slowly while a publisher keeps 20 messages in flight and the broker is killed with SIGKILL at
 * random moments. No QoS 1/2 PUBLISH (or PUBREL) may leave the broker before the records that
 * identify it are committed, so after a restart every delivery that might have been sent comes
 * back with DUP=1 and its original packet id [MQTT-4.4.0-1] [MQTT-3.3.1-1]:
 * - nothing the publisher had acknowledged is lost;
 * - at QoS 1, every repeat of a message the publisher sent once carries DUP=1 and the packet id
 *   it had before;
 * - at QoS 2, a receiver that deduplicates by packet id (as the spec's receiver does, method B
 *   of [MQTT-4.3.3]) hands each message to its application exactly once.
 * Both ends are raw mqtt-packet clients (mqtt.js cannot withhold acknowledgements in 3.1.1).
 */
import { describe, it, expect, afterEach } from 'vitest';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { assertBuilt, Lab, prng, seedFrom, sleep, until, type BrokerProcess, type Wire } from './helpers.js';
import { parsePayload, payloadOf } from './publisher.js';

const lab = new Lab();
afterEach(() => lab.cleanup());

/** Messages per QoS level (QoS 1 first, then QoS 2): 1,000 in all. */
const COUNT = 500;
const PUBLISH_WINDOW = 20;
/** The subscriber holds back each PUBACK / PUBREC this long; PUBCOMP a little. */
const ACK_DELAY_MS = 200;
const PUBCOMP_DELAY_MS = 20;
const KILLS = 5;
const PREFIX = 'wal';

type Version = 4 | 5;

/** Which broker process is current; clients reconnect to the one after a kill. */
class Switchboard {
  broker: BrokerProcess;
  #restarted: Promise<void> = Promise.resolve();
  killing = false;
  kills = 0;
  done = false;

  constructor(broker: BrokerProcess) {
    this.broker = broker;
  }

  /** kill -9, then a restart on the same data directory; clients wait on `ready()`. */
  async crashAndRestart(): Promise<void> {
    this.killing = true;
    this.kills++;
    let finished!: () => void;
    this.#restarted = new Promise((resolve) => (finished = resolve));
    try {
      this.broker = await lab.crashAndRestart(this.broker);
    } finally {
      this.killing = false;
      finished();
    }
  }

  /** Resolves with the broker to (re)connect to once no restart is under way. */
  async ready(): Promise<BrokerProcess> {
    await this.#restarted;
    return this.broker;
  }
}

/** How long a client keeps trying to reach the current broker (restarts are slow on a loaded machine). */
const OPEN_DEADLINE_MS = 30_000;

async function open(board: Switchboard, clientId: string, version: Version, extra: Record<string, unknown>): Promise<Wire> {
  const deadline = Date.now() + OPEN_DEADLINE_MS;
  for (let attempt = 0; ; attempt++) {
    const broker = await board.ready();
    try {
      const wire = await lab.wire(broker.port, version);
      const props = version === 5 ? { properties: { sessionExpiryInterval: 300, ...(extra.properties as object) } } : {};
      const connack = await wire.connect(clientId, { clean: false, ...extra, ...props });
      if (attempt > 0 || board.kills > 0) expect(connack.sessionPresent, `${clientId} session present after a restart`).toBe(true);
      return wire;
    } catch (err) {
      // A broker that exited without the test's SIGKILL crashed: that is a failure, not a retry
      if (!broker.running && !broker.killedByTest) {
        throw new Error(`broker exited by itself (${clientId}): ${(err as Error).message}; stderr: ${broker.stderr}`);
      }
      if (Date.now() > deadline) throw err;
      await sleep(50); // the broker was killed between ready() and CONNACK
    }
  }
}

interface Outgoing {
  readonly qos: 1 | 2;
  readonly seq: number;
  readonly packetId: number;
  sent: boolean;
  /** PUBACK, or PUBREC for QoS 2. */
  acknowledged: boolean;
  complete: boolean;
  /** The publisher sent its PUBLISH more than once (after a reconnect without its acknowledgement). */
  resent: boolean;
}

/** A correct publisher across kills: window of 20, resends unacknowledged PUBLISH (DUP=1) and PUBREL on reconnect. */
async function publish(board: Switchboard, version: Version, messages: Outgoing[], healthy: () => boolean): Promise<void> {
  const byId = new Map(messages.map((m) => [m.packetId, m]));
  while (!messages.every((m) => m.complete)) {
    const wire = await open(board, `wal-pub-${version}`, version, {});
    let inFlight = 0;
    for (const m of messages) {
      if (!m.sent || m.complete) continue;
      inFlight++;
      if (m.qos === 2 && m.acknowledged) {
        wire.send({ cmd: 'pubrel', messageId: m.packetId } as Packet);
      } else {
        m.resent = true;
        wire.send(publishPacket(m, true));
      }
    }
    let next = messages.findIndex((m) => !m.sent);
    if (next < 0) next = messages.length;
    const pump = () => {
      while (inFlight < PUBLISH_WINDOW && next < messages.length) {
        const m = messages[next++] as Outgoing;
        m.sent = true;
        inFlight++;
        wire.send(publishPacket(m, false));
      }
    };
    wire.listen((packet) => {
      const m = byId.get(packet.messageId ?? -1);
      if (m === undefined) throw new Error(`publisher got ${packet.cmd} ${packet.messageId}`);
      if (packet.cmd === 'puback' && !m.complete) {
        m.acknowledged = m.complete = true;
        inFlight--;
      } else if (packet.cmd === 'pubrec' && !m.complete) {
        m.acknowledged = true;
        wire.send({ cmd: 'pubrel', messageId: m.packetId } as Packet);
      } else if (packet.cmd === 'pubcomp' && m.acknowledged && !m.complete) {
        m.complete = true;
        inFlight--;
      }
      pump();
    });
    pump();
    await waitFor(() => healthy() && (wire.isClosed || messages.every((m) => m.complete)));
    wire.onPacket = undefined;
    if (messages.every((m) => m.complete)) wire.close();
  }
}

function publishPacket(m: Outgoing, dup: boolean): Packet {
  return { cmd: 'publish', topic: `${PREFIX}/q${m.qos}`, payload: payloadOf(m.qos, m.seq), qos: m.qos, retain: false, dup, messageId: m.packetId } as Packet;
}

/** What the subscriber saw. */
interface Receipt {
  readonly qos: 1 | 2;
  readonly seq: number;
  readonly dup: boolean;
  readonly packetId: number;
}

/** The subscriber's side of a QoS 2 receiver: packet ids received and not yet released, kept across reconnects. */
interface SubscriberState {
  readonly receipts: Receipt[];
  /** Messages handed to the application (QoS 2 after deduplication by packet id). */
  readonly delivered: { qos: 1 | 2; seq: number }[];
  readonly unreleased: Map<number, number>;
  /** Set when the test has seen enough: the subscriber stops reading. */
  stopped: boolean;
}

/** A slow, correct subscriber: holds each PUBACK/PUBREC back, deduplicates QoS 2 by packet id, reconnects after kills. */
async function subscribe(board: Switchboard, version: Version, state: SubscriberState, subscribed: () => void): Promise<void> {
  let first = true;
  while (!state.stopped) {
    const wire = await open(board, `wal-sub-${version}`, version, {});
    if (first) {
      await wire.subscribe(1, [{ topic: `${PREFIX}/#`, qos: 2 }]);
      first = false;
      subscribed();
    }
    const later = (ms: number, packet: Packet) => setTimeout(() => wire.send(packet), ms);
    wire.listen((packet) => {
      if (packet.cmd === 'publish') {
        const p = packet as IPublishPacket;
        const { qos, seq } = parsePayload(p.payload);
        const packetId = p.messageId as number;
        state.receipts.push({ qos, seq, dup: p.dup, packetId });
        if (p.qos === 1) {
          state.delivered.push({ qos, seq });
          later(ACK_DELAY_MS, { cmd: 'puback', messageId: packetId } as Packet);
        } else {
          if (!state.unreleased.has(packetId)) {
            state.unreleased.set(packetId, seq);
            state.delivered.push({ qos, seq });
          }
          later(ACK_DELAY_MS, { cmd: 'pubrec', messageId: packetId } as Packet);
        }
      } else if (packet.cmd === 'pubrel') {
        state.unreleased.delete(packet.messageId as number);
        later(PUBCOMP_DELAY_MS, { cmd: 'pubcomp', messageId: packet.messageId } as Packet);
      }
    });
    await waitFor(() => wire.isClosed || state.stopped);
    wire.onPacket = undefined;
  }
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(20);
}

/** Kills at random moments while the run goes on: the first 5 restarts are spread over the run. */
async function killAtRandom(board: Switchboard, seed: number): Promise<void> {
  const rand = prng(seed);
  for (let i = 0; i < KILLS && !board.done; i++) {
    await sleep(150 + Math.floor(rand() * 600));
    if (board.done) return;
    await board.crashAndRestart();
  }
}

async function run(version: Version, seed: number): Promise<void> {
  assertBuilt();
  const board = new Switchboard(await lab.start(lab.dataDir()));
  const messages: Outgoing[] = [];
  for (const qos of [1, 2] as const) {
    for (let seq = 0; seq < COUNT; seq++) {
      messages.push({ qos, seq, packetId: (qos === 1 ? 0 : COUNT) + seq + 1, sent: false, acknowledged: false, complete: false, resent: false });
    }
  }
  const state: SubscriberState = { receipts: [], delivered: [], unreleased: new Map(), stopped: false };
  const distinct = (qos: 1 | 2) => new Set(state.delivered.filter((d) => d.qos === qos).map((d) => d.seq)).size;
  const allIn = () => distinct(1) >= COUNT && distinct(2) >= COUNT && messages.every((m) => m.complete);
  // The subscriber's session exists before the first message
  let subscribed!: () => void;
  const ready = new Promise<void>((resolve) => (subscribed = resolve));
  // The subscriber and the killer run beside the publisher: their first failure fails the run
  const failures: unknown[] = [];
  const watch = (work: Promise<void>) => work.catch((err: unknown) => void failures.push(err));
  const healthy = (condition: () => boolean) => () => {
    if (failures.length > 0) throw failures[0];
    return condition();
  };
  const subscribing = watch(subscribe(board, version, state, subscribed));
  await ready;
  const killing = watch(killAtRandom(board, seed));
  await publish(board, version, messages, healthy(() => true));
  await until(healthy(() => allIn() && !board.killing), `all ${2 * COUNT} messages`, 60_000).catch((err: Error) => {
    throw new Error(`${err.message} (QoS 1: ${distinct(1)}, QoS 2: ${distinct(2)}, publisher done: ${messages.every((m) => m.complete)})`);
  });
  board.done = true;
  await killing;
  // Repeats, if any, would come right behind
  await sleep(ACK_DELAY_MS * 3);
  state.stopped = true;
  await subscribing;
  if (failures.length > 0) throw failures[0];

  expect(board.kills, 'kills performed').toBeGreaterThanOrEqual(3);
  expect(distinct(1), 'QoS 1 lost').toBe(COUNT);
  expect(distinct(2), 'QoS 2 lost').toBe(COUNT);

  // QoS 1: a message the publisher sent once may come again only as a redelivery: DUP=1, same packet id
  const sentOnce = new Set(messages.filter((m) => m.qos === 1 && !m.resent).map((m) => m.seq));
  const firstId = new Map<number, number>();
  const bad: string[] = [];
  for (const r of state.receipts.filter((x) => x.qos === 1)) {
    const earlier = firstId.get(r.seq);
    if (earlier === undefined) {
      firstId.set(r.seq, r.packetId);
      continue;
    }
    if (!sentOnce.has(r.seq)) continue;
    if (!r.dup) bad.push(`q1:${r.seq} repeated with DUP=0`);
    else if (r.packetId !== earlier) bad.push(`q1:${r.seq} repeated under packet id ${r.packetId}, first ${earlier}`);
  }
  expect(bad, 'QoS 1 repeats of messages sent once').toEqual([]);

  // QoS 2: exactly once to the application
  const counts = new Map<number, number>();
  for (const d of state.delivered.filter((x) => x.qos === 2)) counts.set(d.seq, (counts.get(d.seq) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([seq, n]) => `q2:${seq} ×${n}`);
  expect(twice, 'QoS 2 duplicates').toEqual([]);
  expect(lab.brokerErrors()).toEqual([]);
}

describe('kill -9 with a persistent subscriber online and acknowledging slowly', () => {
  it('[MQTT-4.4.0-1] MQTT 3.1.1: 0 lost, QoS 1 repeats only as DUP=1 redeliveries, QoS 2 exactly once', async () => {
    await run(4, seedFrom(13_004));
  }, 120_000);

  it('[MQTT-3.3.1-1] MQTT 5.0: 0 lost, QoS 1 repeats only as DUP=1 redeliveries, QoS 2 exactly once', async () => {
    await run(5, seedFrom(13_005));
  }, 120_000);
});
