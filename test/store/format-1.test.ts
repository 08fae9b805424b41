/**
 * On-disk format 1: test/fixtures/store-format-1/ is a LevelDB data directory that a Midge broker
 * wrote and was killed on (test/fixtures/make-store-format-1.mjs regenerates it and describes its
 * state). A copy of it must read back in full, through LevelStore and through a broker started on
 * it, whatever format later versions write.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../../src/index.js';
import { LevelStore } from '../../src/store/level.js';
import type { StoredState } from '../../src/store/store.js';
import { collect, connected, sleep, startBroker, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/store-format-1', import.meta.url));
const NEVER = 0xffffffff;

const dirs: string[] = [];
const wires: Wire[] = [];
let t: TestBroker | undefined;
afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await t?.close();
  t = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh copy of the fixture (opening a LevelDB directory writes to it). */
function copyOfFixture(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'midge-format-1-'));
  dirs.push(dir);
  const data = path.join(dir, 'data');
  cpSync(FIXTURE, data, { recursive: true });
  return data;
}

async function readStore(dataDir: string): Promise<StoredState> {
  const store = new LevelStore(dataDir, 'fsync');
  try {
    return await store.open();
  } finally {
    await store.close();
  }
}

function text(message: Message | undefined): string | undefined {
  return message?.payload.toString();
}

describe('on-disk format 1 (test/fixtures/store-format-1)', () => {
  it('is marked as format 1', async () => {
    const db = new ClassicLevel<string, string>(copyOfFixture(), { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    try {
      expect(await db.get('meta\u0000format')).toBe('1');
    } finally {
      await db.close();
    }
  });

  it('LevelStore reads back every session with its subscriptions and will', async () => {
    const state = await readStore(copyOfFixture());
    const sessions = new Map(state.sessions.map((s) => [s.clientId, s]));
    expect([...sessions.keys()].sort()).toEqual(['fixture-inflight', 'fixture-pub2', 'fixture-sub', 'fixture-will', 'fixture-will-delayed']);
    for (const s of sessions.values()) expect(s.expiryInterval, s.clientId).toBe(NEVER);

    const sub = sessions.get('fixture-sub');
    expect(sub?.subscriptions.map((s) => [s.filter, s.qos, s.identifier])).toEqual([
      ['fixture/q1/#', 1, 7],
      ['fixture/q2/#', 2, undefined],
      ['will/#', 1, undefined],
    ]);
    expect(sub?.disconnectedAt).toBeTypeOf('number');
    expect(sub?.will).toBeUndefined();
    expect(sessions.get('fixture-inflight')?.subscriptions.map((s) => [s.filter, s.qos])).toEqual([['fixture/inflight', 2]]);
    expect(sessions.get('fixture-inflight')?.disconnectedAt).toBeUndefined(); // connected when the broker died

    const will = sessions.get('fixture-will');
    expect(will?.disconnectedAt).toBeUndefined();
    expect(will?.will).toMatchObject({ topic: 'will/fixture-will', qos: 1, retain: false, delayInterval: 0, properties: { contentType: 'text/plain' } });
    expect(will?.will?.payload.toString()).toBe('fixture-will gone');

    const delayed = sessions.get('fixture-will-delayed');
    expect(delayed?.will).toMatchObject({ topic: 'will/fixture-will-delayed', qos: 1, delayInterval: 0xffffffff });
    expect(delayed?.will?.payload.toString()).toBe('delayed gone');
    expect((delayed?.willDueAt as number) - (delayed?.disconnectedAt as number)).toBe(0xffffffff * 1000);
  });

  it('LevelStore reads back the retained messages with their properties', async () => {
    const state = await readStore(copyOfFixture());
    const retained = new Map(state.retained.map((m) => [m.topic, m]));
    expect([...retained.keys()].sort()).toEqual(['fixture/retained/plain', 'fixture/retained/props']);
    expect(retained.get('fixture/retained/plain')).toMatchObject({ qos: 1, retain: true });
    expect(text(retained.get('fixture/retained/plain'))).toBe('r1');
    const props = retained.get('fixture/retained/props');
    expect(text(props)).toBe('r2');
    expect(props?.qos).toBe(0);
    expect(props?.properties).toEqual({
      payloadFormatIndicator: true,
      contentType: 'application/json',
      userProperties: { k: ['v1', 'v2'] },
      correlationData: Buffer.from('corr-1'),
    });
  });

  it('LevelStore reads back queued and in-flight QoS 1/2 deliveries with their messages, and the inbound QoS 2 id', async () => {
    const state = await readStore(copyOfFixture());
    const messages = new Map(state.messages.map((m) => [m.id, m]));
    const deliveries = (clientId: string) =>
      state.deliveries
        .filter((d) => d.clientId === clientId)
        .sort((a, b) => a.seq - b.seq)
        .map((d) => ({ payload: text(messages.get(d.messageId)), qos: d.qos, state: d.state, packetId: d.packetId, subscriptionIds: d.subscriptionIds }));
    expect(deliveries('fixture-sub')).toEqual([
      { payload: 'queued-1', qos: 1, state: 'publish', packetId: 0, subscriptionIds: [7] },
      { payload: 'queued-2', qos: 2, state: 'publish', packetId: 0, subscriptionIds: undefined },
      { payload: 'inbound-42', qos: 2, state: 'publish', packetId: 0, subscriptionIds: undefined },
      { payload: 'queued-3', qos: 1, state: 'publish', packetId: 0, subscriptionIds: [7] },
    ]);
    // In flight: the QoS 1 one within the send frontier (its packet id derives from its seq), the QoS 2 one at PUBREL
    expect(deliveries('fixture-inflight')).toEqual([
      { payload: 'inflight-1', qos: 1, state: 'publish', packetId: 0, subscriptionIds: undefined },
      { payload: 'inflight-2', qos: 2, state: 'pubrel', packetId: 2, subscriptionIds: undefined },
    ]);
    expect(state.frontiers.get('fixture-inflight')).toBe(2);
    const queued2 = state.messages.find((m) => text(m) === 'queued-2');
    expect(queued2).toMatchObject({ topic: 'fixture/q2/b', qos: 2, properties: { contentType: 'text/plain', responseTopic: 'fixture/reply', userProperties: { origin: 'fixture' } } });
    for (const d of state.deliveries) expect(state.references.get(d.messageId), `references of message ${d.messageId}`).toBe(1);
    expect(state.inbound).toEqual([{ clientId: 'fixture-pub2', packetId: 42 }]);
    expect(state.backlogs).toEqual([]);
  });

  it('a broker started on it restores sessions, subscriptions, queued and in-flight messages, the inbound QoS 2 id, wills and retained messages', async () => {
    t = await startBroker({ store: 'level', dataDir: copyOfFixture(), durability: 'fsync' });
    expect(t.broker.sessionCount).toBe(5);

    // Retained messages, properties included
    const reader = await t.client({ protocolVersion: 5 });
    const retained = collect(reader);
    await reader.subscribeAsync('fixture/retained/#', { qos: 1 });
    await retained.waitFor(2);
    const byTopic = new Map(retained.messages.map((m) => [m.topic, m]));
    expect(byTopic.get('fixture/retained/plain')?.payload).toBe('r1');
    expect(byTopic.get('fixture/retained/plain')?.packet.retain).toBe(true);
    expect(byTopic.get('fixture/retained/props')?.payload).toBe('r2');
    expect(byTopic.get('fixture/retained/props')?.packet.properties).toMatchObject({
      contentType: 'application/json',
      correlationData: Buffer.from('corr-1'),
      userProperties: { k: ['v1', 'v2'] },
      payloadFormatIndicator: true,
    });

    // The offline session: present, its queue in order, then the will of fixture-will (connected when the broker died)
    const sub = t.open({ protocolVersion: 5, clientId: 'fixture-sub', clean: false, properties: { sessionExpiryInterval: NEVER } });
    const got = collect(sub);
    expect((await connected(sub)).sessionPresent).toBe(true);
    await got.waitFor(5);
    // mqtt.js hands a QoS 2 message over at PUBREL, so the order holds within each QoS
    const received = (qos: number) => got.messages.filter((m) => m.packet.qos === qos).map((m) => [m.topic, m.payload]);
    expect(received(1)).toEqual([
      ['fixture/q1/a', 'queued-1'],
      ['fixture/q1/c', 'queued-3'],
      ['will/fixture-will', 'fixture-will gone'],
    ]);
    expect(received(2)).toEqual([
      ['fixture/q2/b', 'queued-2'],
      ['fixture/q2/inbound', 'inbound-42'],
    ]);
    const message = (payload: string) => got.messages.find((m) => m.payload === payload)?.packet;
    expect(message('queued-1')?.properties?.subscriptionIdentifier).toBe(7);
    expect(message('queued-2')?.properties).toMatchObject({ contentType: 'text/plain', responseTopic: 'fixture/reply', userProperties: { origin: 'fixture' } });
    expect(message('fixture-will gone')?.properties).toMatchObject({ contentType: 'text/plain' });

    // Its subscriptions are in place
    const pub = await t.client({ protocolVersion: 5 });
    await pub.publishAsync('fixture/q1/new', 'after restore', { qos: 1 });
    await got.waitFor(6);
    expect(got.messages[5]).toMatchObject({ topic: 'fixture/q1/new', payload: 'after restore' });

    // The session with messages in flight: the QoS 1 PUBLISH again with DUP=1, the QoS 2 one's PUBREL
    const inflight = await Wire.open(t.port, 4);
    wires.push(inflight);
    expect(await inflight.handshake({ clientId: 'fixture-inflight', clean: false })).toMatchObject({ sessionPresent: true, returnCode: 0 });
    const again = (await inflight.next('publish')) as IPublishPacket;
    expect([again.topic, again.payload.toString(), again.qos, again.dup]).toEqual(['fixture/inflight', 'inflight-1', 1, true]);
    expect(await inflight.next('pubrel')).toMatchObject({ messageId: 2 });
    inflight.send({ cmd: 'puback', messageId: again.messageId } as Packet);
    inflight.send({ cmd: 'pubcomp', messageId: 2 } as Packet);

    // The publisher whose QoS 2 PUBLISH 42 awaited PUBREL: the id is known, and the message is not delivered again
    const pub2 = await Wire.open(t.port, 5);
    wires.push(pub2);
    expect(await pub2.handshake({ clientId: 'fixture-pub2', clean: false, properties: { sessionExpiryInterval: NEVER } })).toMatchObject({ sessionPresent: true, reasonCode: 0 });
    pub2.send({ cmd: 'pubrel', messageId: 42 } as Packet);
    const pubcomp = await pub2.next('pubcomp');
    expect(pubcomp).toMatchObject({ messageId: 42 });
    expect((pubcomp as { reasonCode?: number }).reasonCode ?? 0).toBe(0); // not 0x92 Packet Identifier not found

    // The delayed will is still pending: its client comes back in time and it is never published
    const delayed = await t.client({ protocolVersion: 5, clientId: 'fixture-will-delayed', clean: false, properties: { sessionExpiryInterval: NEVER } });
    expect(delayed.connected).toBe(true);
    await sleep(200);
    expect(got.messages.map((m) => m.payload).sort()).toEqual(['after restore', 'fixture-will gone', 'inbound-42', 'queued-1', 'queued-2', 'queued-3']);
  });
});
