import net from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { Plugin } from '../../src/index.js';
import { sleep, until } from '../helpers/broker.js';
import { connectFrame } from '../helpers/frames.js';
import { WireHarness, expectClosedSilently, expectDisconnect } from './harness.js';

const w = new WireHarness();
afterEach(() => w.cleanup());

describe('CONNECT timeout', () => {
  it('a socket that sends nothing is closed after connectTimeout', async () => {
    await w.start({ connectTimeout: 300 });
    const started = Date.now();
    const c = await w.raw();
    await expectClosedSilently(c);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2000);
  });

  it('a socket that sends half a CONNECT is closed after connectTimeout', async () => {
    await w.start({ connectTimeout: 300 });
    const c = await w.raw();
    c.write(connectFrame().subarray(0, 6));
    await expectClosedSilently(c);
  });

  it('a CONNECT in time is not affected by the timer', async () => {
    await w.start({ connectTimeout: 300 });
    const { c } = await w.connected(4);
    await new Promise((r) => setTimeout(r, 450));
    c.send({ cmd: 'pingreq' });
    await c.next('pingresp');
    expect(c.isClosed).toBe(false);
  });
});

describe('keepalive', () => {
  it('[MQTT-3.1.2-24] 3.1.1: keepalive 1 then silence closes after 1.5 s, not before', async () => {
    await w.start();
    const { c } = await w.connected(4, { keepalive: 1 });
    const accepted = Date.now();
    await expectClosedSilently(c);
    const elapsed = Date.now() - accepted;
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(2500);
  });

  it('[MQTT-3.1.2-22] 5.0: keepalive 1 then silence: DISCONNECT 0x8D after 1.5 s, then close', async () => {
    await w.start();
    const { c } = await w.connected(5, { keepalive: 1 });
    const accepted = Date.now();
    await expectDisconnect(c, 0x8d);
    const elapsed = Date.now() - accepted;
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(2500);
  });

  it('PINGREQ within the keepalive keeps the connection open past 1.5× keepalive', async () => {
    await w.start();
    const { c } = await w.connected(4, { keepalive: 1 });
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 600));
      c.send({ cmd: 'pingreq' });
      await c.next('pingresp');
    }
    expect(c.isClosed).toBe(false);
  });

  it('[MQTT-3.2.2-21] 5.0: Server Keep Alive caps the keepalive and is enforced', async () => {
    await w.start({ maxKeepAlive: 1 });
    const { c, connack } = await w.connected(5, { keepalive: 60 });
    expect(connack).toMatchObject({ properties: { serverKeepAlive: 1 } });
    const accepted = Date.now();
    await expectDisconnect(c, 0x8d);
    expect(Date.now() - accepted).toBeGreaterThanOrEqual(1400);
  });
});

/**
 * A client that falls silent with keepalive 1. `hung`: its application stopped (its TCP stack still
 * answers, but it never closes its side), as a frozen device would; otherwise an ordinary socket.
 */
async function silentClientWithWill(version: 4 | 5, hung: boolean, topic: string): Promise<{ acceptedAt: number }> {
  const socket = net.connect({ port: w.port, host: '127.0.0.1', allowHalfOpen: hung });
  socket.on('error', () => undefined);
  opened.push(socket);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const will = { topic, payload: Buffer.from('gone'), qos: 0, retain: false };
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `silent-${version}-${hung}`, clean: true, keepalive: 1, will } as Packet, { protocolVersion: version }));
  await new Promise<void>((resolve) => socket.once('data', () => resolve())); // CONNACK
  return { acceptedAt: performance.now() };
}

const opened: net.Socket[] = [];
afterEach(() => {
  for (const s of opened.splice(0)) s.destroy();
});

describe('[MQTT-3.1.2-24] keepalive 1: the will of a silent client is published by 1.5 s', () => {
  for (const version of [4, 5] as const) {
    for (const hung of [false, true]) {
      it(`${version === 5 ? '5.0' : '3.1.1'}, ${hung ? 'a client whose application hung (never closes its side)' : 'an ordinary socket'}: the will arrives 1.5 s after the last packet, within 0.25 s`, async () => {
        const tb = await w.start();
        const watcher = await tb.client({ protocolVersion: 5 });
        const topic = `silent/${version}/${hung}`;
        let willAt = 0;
        watcher.on('message', () => (willAt ||= performance.now()));
        await watcher.subscribeAsync(topic);
        const { acceptedAt } = await silentClientWithWill(version, hung, topic);
        await until(() => willAt > 0, 'the will', 4000);
        const elapsed = willAt - acceptedAt;
        expect(elapsed).toBeGreaterThanOrEqual(1450);
        expect(elapsed).toBeLessThan(1750);
      });
    }
  }
});

describe('the CONNECT deadline covers authentication', () => {
  it('connectTimeout 300 with an authenticate hook that never resolves: the socket is closed within 1 s, not accepted', async () => {
    const never: Plugin = { authenticate: () => new Promise<boolean>(() => undefined) };
    await w.start({ connectTimeout: 300, plugins: [never] });
    const c = await w.raw(4);
    const started = Date.now();
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'stuck-auth', clean: true, keepalive: 0 } as Packet);
    await c.waitClosed(1500);
    expect(Date.now() - started).toBeLessThan(1000);
    // whatever was sent, the client was not accepted
    expect(c.packets.some((p) => p.cmd === 'connack' && (p as { returnCode?: number }).returnCode === 0)).toBe(false);
    expect(w.tb?.broker.sessionCount).toBe(0);
  });

  it('an authentication that succeeds after the deadline creates no session and no connection', async () => {
    const late: Plugin = { authenticate: () => sleep(600).then(() => true) };
    const tb = await w.start({ connectTimeout: 300, plugins: [late] });
    const c = await w.raw(5);
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'late-auth', clean: true, keepalive: 0 } as Packet);
    await c.waitClosed(1500);
    await sleep(500); // past the moment authenticate resolves
    expect(c.packets.some((p) => p.cmd === 'connack' && (p as { reasonCode?: number }).reasonCode === 0)).toBe(false);
    expect(tb.broker.sessionCount).toBe(0);
    expect(tb.broker.clientCount).toBe(0);
  });
});

describe('maxKeepAlive applies only to MQTT 5', () => {
  it.each([3, 4])('level %i: keepalive 60 with maxKeepAlive 1 is not cut to 1 s (still connected after 2.2 s)', async (level) => {
    await w.start({ maxKeepAlive: 1 });
    const { c } = await w.connected(level, { keepalive: 60 });
    await sleep(2200);
    expect(c.isClosed).toBe(false);
    c.send({ cmd: 'pingreq' });
    await c.next('pingresp');
  });

  it('[MQTT-3.2.2-21] 5.0: keepalive 60 with maxKeepAlive 1 gets Server Keep Alive 1 in CONNACK', async () => {
    await w.start({ maxKeepAlive: 1 });
    const { connack } = await w.connected(5, { keepalive: 60 });
    expect(connack).toMatchObject({ properties: { serverKeepAlive: 1 } });
  });
});
