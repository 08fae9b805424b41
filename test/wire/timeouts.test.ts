import { afterEach, describe, expect, it } from 'vitest';
import { Wire, connectFrame, expectClosedSilently, expectDisconnect } from './wire.js';

const w = new Wire();
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
    expect(c.closed).toBe(false);
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
    expect(c.closed).toBe(false);
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
