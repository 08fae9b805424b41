/** Whether a client's will is published, by the reason code of its DISCONNECT (MQTT 5). */
import type { Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, until } from '../helpers/broker.js';
import { WireHarness } from './harness.js';

const w = new WireHarness();
afterEach(() => w.cleanup());

describe('DISCONNECT reason codes and the will [MQTT-3.14.4-3]', () => {
  const will = { topic: 'will/dev', payload: Buffer.from('gone'), qos: 1, retain: false };

  it.each([
    ['0x80 (Unspecified error)', 0x80],
    ['0x04 (Disconnect with Will Message)', 0x04],
    ['0x83 (Implementation specific error)', 0x83],
  ])('5.0: DISCONNECT %s keeps the will, which is published', async (_name, reasonCode) => {
    const tb = await w.start();
    const watcher = await tb.client({ protocolVersion: 5 });
    const got = collect(watcher);
    await watcher.subscribeAsync('will/#', { qos: 1 });
    const { c } = await w.connected(5, { clientId: 'dev', will });
    c.send({ cmd: 'disconnect', reasonCode } as Packet);
    await c.waitClosed();
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'will/dev', payload: 'gone' });
  });

  it('[MQTT-3.1.2-10] 5.0: DISCONNECT 0x00 discards the will', async () => {
    const tb = await w.start();
    const watcher = await tb.client({ protocolVersion: 5 });
    const got = collect(watcher);
    await watcher.subscribeAsync('will/#', { qos: 1 });
    const { c } = await w.connected(5, { clientId: 'dev', will });
    c.send({ cmd: 'disconnect', reasonCode: 0 } as Packet);
    await c.waitClosed();
    await until(() => tb.broker.clientCount === 1, 'the device to be gone');
    // a message published after the close arrives; the will would have come before it
    await watcher.publishAsync('will/probe', 'probe', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages.map((m) => m.topic)).toEqual(['will/probe']);
  });
});
