/**
 * A plugin that throws: a transform (onPublish) or a gate (authorizePublish) failing with an error
 * that is not a BrokerError costs one message or one connection, never the broker.
 */
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClientInfo, Drop, Message, Plugin } from '../../src/index.js';
import { closed, collect, nextDisconnect, startBroker, until, type TestBroker } from '../helpers/broker.js';

let t: TestBroker | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

function broker(): TestBroker {
  if (!t) throw new Error('no broker started');
  return t;
}

/** Closes the client's socket without DISCONNECT, as a crash would. */
async function kill(client: MqttClient): Promise<void> {
  const gone = closed(client);
  client.stream.destroy();
  await gone;
}

/** Proves the broker still serves: a fresh subscriber gets a fresh publisher's message. */
async function stillServes(protocolVersion: 4 | 5 = 4, ws = false): Promise<void> {
  const tb = broker();
  const sub = await tb.client({ protocolVersion, ws });
  const got = collect(sub);
  await sub.subscribeAsync('alive/check', { qos: 1 });
  const pub = await tb.client({ protocolVersion, ws });
  await pub.publishAsync('alive/check', 'yes', { qos: 1 });
  await got.waitFor(1);
  expect(got.messages[0]?.payload).toBe('yes');
}

describe('an onPublish transform that throws', () => {
  const drops: Drop[] = [];
  const throwing: Plugin = {
    name: 'throwing-transform',
    onPublish: (_client: ClientInfo | undefined, message: Message) => {
      if (message.topic.startsWith('boom/')) throw new Error('transform failed');
      return message;
    },
    onDropped: (drop: Drop) => drops.push(drop),
  };
  afterEach(() => {
    drops.length = 0;
  });

  it('a client message is dropped and counted as plugin-error; the publisher stays connected and others are served', async () => {
    t = await startBroker({ plugins: [throwing] });
    const watcher = await t.client({ protocolVersion: 5 });
    const got = collect(watcher);
    await watcher.subscribeAsync('#', { qos: 1 });
    const pub = await t.client({ protocolVersion: 5, clientId: 'boom-pub' });
    await pub.publishAsync('boom/1', 'never routed', { qos: 1 });
    await pub.publishAsync('fine/1', 'routed', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages.map((m) => m.topic)).toEqual(['fine/1']);
    expect(pub.connected).toBe(true);
    expect(t.broker.stats.dropped['plugin-error']).toBe(1);
    expect(drops).toEqual([expect.objectContaining({ clientId: 'boom-pub', reason: 'plugin-error' })]);
    expect(drops[0]?.message.topic).toBe('boom/1');
  });

  it('a will whose transform throws (client socket destroyed) is dropped and counted; the broker keeps serving', async () => {
    t = await startBroker({ plugins: [throwing] });
    const dev = await t.client({ protocolVersion: 4, clientId: 'boom-dev', will: { topic: 'boom/will', payload: Buffer.from('bye'), qos: 1, retain: false } });
    expect(t.broker.sessionCount).toBe(1);
    await kill(dev);
    await until(() => broker().broker.stats.dropped['plugin-error'] === 1, 'the will to be dropped as plugin-error');
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ reason: 'plugin-error', message: { topic: 'boom/will', origin: 'boom-dev' } });
    // the close was handled to the end: the clean session is gone
    await until(() => broker().broker.sessionCount === 0 && broker().broker.clientCount === 0, 'the session to end');
    await stillServes();
  });

  it('a will whose transform throws during a takeover does not stop the new connection', async () => {
    t = await startBroker({ plugins: [throwing] });
    const will = { topic: 'boom/will', payload: Buffer.from('bye'), qos: 1 as const, retain: false };
    const first = await t.client({ protocolVersion: 5, clientId: 'boom-twice', will });
    const firstClosed = closed(first);
    const second = await t.client({ protocolVersion: 5, clientId: 'boom-twice' });
    await firstClosed;
    expect(second.connected).toBe(true);
    expect(t.broker.stats.dropped['plugin-error']).toBe(1);
    await stillServes(5);
  });

  it('broker.publish() with a throwing transform resolves and counts the drop', async () => {
    t = await startBroker({ plugins: [throwing] });
    await t.broker.publish({ topic: 'boom/api', payload: 'x', qos: 1 });
    expect(t.broker.stats.dropped['plugin-error']).toBe(1);
    expect(drops[0]).toMatchObject({ clientId: undefined, reason: 'plugin-error' });
  });
});

describe('a non-BrokerError thrown after CONNACK', () => {
  const crashingGate: Plugin = {
    authorizePublish: (_client, message) => {
      if (message.topic === 'gate/crash') throw new Error('gate bug');
      return true;
    },
  };

  it('5.0: an authorizePublish gate that throws gives DISCONNECT 0x80 (not 0x88); others are still served', async () => {
    t = await startBroker({ plugins: [crashingGate] });
    const victim = await t.client({ protocolVersion: 5 });
    const disconnect = nextDisconnect(victim);
    victim.publish('gate/crash', 'x', { qos: 1 }, () => undefined);
    const packet = await disconnect;
    expect(packet.reasonCode).toBe(0x80);
    await closed(victim).catch(() => undefined);
    await stillServes(5);
  });

  it('3.1.1: the same failure closes only that connection', async () => {
    t = await startBroker({ plugins: [crashingGate] });
    const victim = await t.client({ protocolVersion: 4 });
    const gone = closed(victim);
    victim.publish('gate/crash', 'x', { qos: 1 }, () => undefined);
    await gone;
    await stillServes(4);
  });
});
