/**
 * Session expiry and will delay run on wall-clock deadlines that survive a kill -9: a restart
 * neither resets nor shortens them [MQTT-3.1.2-23] [MQTT-3.1.3-9].
 */
import { describe, it, expect, afterEach } from 'vitest';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { assertBuilt, connected, Lab, sleep, until, type BrokerProcess, type Wire } from './helpers.js';

const lab = new Lab();
afterEach(() => lab.cleanup());

/** Resolves at `start + ms` (at once if that has passed). */
function at(start: number, ms: number): Promise<void> {
  return sleep(Math.max(0, start + ms - Date.now()));
}

/** Connects a raw MQTT 5 client with a resumable session of `expiry` seconds. */
async function session(broker: BrokerProcess, clientId: string, expiry: number, extra: Record<string, unknown> = {}): Promise<{ wire: Wire; present: boolean }> {
  const wire = await lab.wire(broker.port, 5);
  const connack = await wire.connect(clientId, { clean: false, properties: { sessionExpiryInterval: expiry }, ...extra });
  return { wire, present: connack.sessionPresent };
}

/** Normal DISCONNECT; resolves once the broker closed the connection. */
async function leave(wire: Wire): Promise<void> {
  wire.send({ cmd: 'disconnect', reasonCode: 0 });
  await wire.closed;
}

/** Makes sure the broker has committed what it queued so far (commits are in order). */
async function settle(broker: BrokerProcess): Promise<void> {
  await sleep(50); // the broker handles a close a little after the client sees it
  const helper = await lab.wire(broker.port, 5);
  await helper.connect(`settle-${Math.random().toString(16).slice(2)}`);
  await helper.barrier(1);
  helper.close();
}

/** Is the session still there? (Resuming it also cancels its expiry, so probe each session once.) */
async function probe(broker: BrokerProcess, clientId: string, expiry: number): Promise<boolean> {
  const { wire, present } = await session(broker, clientId, expiry);
  wire.close();
  return present;
}

describe('kill -9 and session expiry', () => {
  it('[MQTT-3.1.2-23] a session that went offline before the kill expires on time after the restart', async () => {
    assertBuilt();
    let broker = await lab.start(lab.dataDir());
    const early = await session(broker, 'expiry-early', 4);
    const late = await session(broker, 'expiry-late', 4);
    await early.wire.subscribe(1, [{ topic: 'expiry/#', qos: 1 }]);
    await late.wire.subscribe(1, [{ topic: 'expiry/#', qos: 1 }]);
    await Promise.all([leave(early.wire), leave(late.wire)]);
    const offline = Date.now();
    await settle(broker);
    await broker.crash();
    // Restart late enough that whole seconds would not do: the deadline is offline + 4 s to the millisecond.
    // 4 s rather than less, so that a slow restart on a loaded machine still probes well before it
    await at(offline, 400);
    broker = await lab.restart(broker);
    await at(offline, 1300);
    expect(await probe(broker, 'expiry-early', 4), 'present 1.3 s after going offline').toBe(true);
    await at(offline, 4350);
    expect(await probe(broker, 'expiry-late', 4), 'gone 4.35 s after going offline (expiry 4 s)').toBe(false);
  });

  it('[MQTT-3.1.2-23] a session resumed before the kill keeps its whole expiry after the restart', async () => {
    assertBuilt();
    let broker = await lab.start(lab.dataDir());
    const first = await session(broker, 'expiry-resumed', 2);
    await leave(first.wire);
    await sleep(1200);
    // Back within its expiry: the session is resumed, and it is connected when the broker dies
    const again = await session(broker, 'expiry-resumed', 2);
    expect(again.present).toBe(true);
    await again.wire.barrier(1);
    await sleep(1000); // the old disconnect is now more than its 2 s expiry ago
    broker = await lab.crashAndRestart(broker);
    const restarted = Date.now();
    // The connection ended with the broker: the 2 s run from the restart (at the earliest from the kill)
    await at(restarted, 1000);
    expect(await probe(broker, 'expiry-resumed', 2), 'present 1 s after the restart').toBe(true);
  });
});

describe('kill -9 and the will delay', () => {
  /** A persistent subscriber on `filter` that records when each message arrived. */
  async function watcher(broker: BrokerProcess, clientId: string, filter: string | undefined, seen: { at: number; packet: IPublishPacket }[]): Promise<MqttClient> {
    const client = lab.mqtt(broker.port, { clientId, clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } });
    client.on('message', (_t, _p, packet) => seen.push({ at: Date.now(), packet }));
    await connected(client);
    if (filter) await client.subscribeAsync(filter, { qos: 1 });
    return client;
  }

  it('[MQTT-3.1.3-9] a will delayed 4 s and pending at the kill is due 4 s after the disconnect, not 4 s after the restart', async () => {
    assertBuilt();
    let broker = await lab.start(lab.dataDir());
    const seen: { at: number; packet: IPublishPacket }[] = [];
    await (await watcher(broker, 'delay-watcher', 'delay/#', seen)).endAsync();
    const will = { topic: 'delay/w', payload: Buffer.from('delayed will'), qos: 1, retain: true, properties: { willDelayInterval: 4 } };
    const client = await session(broker, 'delay-client', 30, { will });
    await client.wire.barrier(1);
    client.wire.close(); // no DISCONNECT: the will applies, after its delay
    const gone = Date.now();
    await settle(broker);
    await broker.crash();
    // The broker is down when the will falls due; once back, the will is overdue and goes out at
    // once. Had the delay been counted from the restart, it would come 4 s after it. (Measuring
    // against the restart rather than the disconnect keeps the test independent of how long a
    // restart takes on a loaded machine.)
    await at(gone, 4500);
    broker = await lab.restart(broker);
    const restarted = Date.now();
    await watcher(broker, 'delay-watcher', undefined, seen);
    await until(() => seen.length > 0, 'the delayed will', 10_000);
    const arrived = (seen[0] as { at: number }).at;
    expect(arrived - gone, 'will delay measured from the disconnect (ms)').toBeGreaterThanOrEqual(4000);
    expect(arrived - restarted, 'ms from the restart to the overdue will').toBeLessThan(3000);
    expect((seen[0] as { packet: IPublishPacket }).packet.payload.toString()).toBe('delayed will');
    await sleep(200);
    expect(seen).toHaveLength(1);
  });

  it('a delayed will that was published before the kill is not published again after the restart', async () => {
    assertBuilt();
    let broker = await lab.start(lab.dataDir());
    const seen: { at: number; packet: IPublishPacket }[] = [];
    const online = await watcher(broker, 'delay-watcher-2', 'delay2/#', seen);
    const will = { topic: 'delay2/w', payload: Buffer.from('delayed will'), qos: 1, retain: false, properties: { willDelayInterval: 1 } };
    const client = await session(broker, 'delay-client-2', 30, { will });
    await client.wire.barrier(1);
    client.wire.close();
    await until(() => seen.length > 0, 'the delayed will', 4000);
    await online.publishAsync('delay2-test/barrier', 'x', { qos: 1 }); // its PUBACK for the will is committed
    await online.endAsync();
    await settle(broker);
    broker = await lab.crashAndRestart(broker);
    await watcher(broker, 'delay-watcher-2', undefined, seen);
    await sleep(500);
    expect(seen.map((s) => s.packet.payload.toString()), 'publications of the will').toEqual(['delayed will']);
  });
});
