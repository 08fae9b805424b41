/** Session takeover: a clean session is not resumed by the client that takes it over, and observers see the old connection end first. */
import { afterEach, describe, expect, it } from 'vitest';
import type { Plugin } from '../../src/index.js';
import { closed, collect, connected, sleep, startBroker, type TestBroker } from '../helpers/broker.js';

let t: TestBroker | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('takeover of a connected clean session [MQTT-3.1.2-6]', () => {
  const cases = [
    { name: '3.1.1 clean=true', first: { protocolVersion: 4 as const, clean: true }, second: { protocolVersion: 4 as const, clean: false } },
    {
      name: '5.0 Session Expiry Interval 0',
      first: { protocolVersion: 5 as const, clean: true },
      second: { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 60 } },
    },
    {
      name: '5.0 clean=false with Session Expiry Interval 0',
      first: { protocolVersion: 5 as const, clean: false },
      second: { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 60 } },
    },
  ];

  it.each(cases)('$name, taken over with clean=false: not resumed (sessionPresent 0, old subscriptions gone), the will is published', async ({ first, second }) => {
    t = await startBroker();
    const watcher = await t.client({ protocolVersion: 5 });
    const wills = collect(watcher);
    await watcher.subscribeAsync('will/#', { qos: 1 });
    const clientId = `clean-takeover-${first.protocolVersion}`;
    const old = await t.client({ ...first, clientId, will: { topic: 'will/old', payload: Buffer.from('old gone'), qos: 1, retain: false } });
    await old.subscribeAsync('old/#', { qos: 1 });
    const oldClosed = closed(old);
    const next = t.open({ ...second, clientId });
    const got = collect(next);
    const connack = await connected(next);
    await oldClosed;
    expect(connack.sessionPresent).toBe(false);
    await wills.waitFor(1);
    expect(wills.messages[0]).toMatchObject({ topic: 'will/old', payload: 'old gone' });
    // the probe is published after old/1 by the same client, so old/1 would arrive first
    await next.subscribeAsync('probe', { qos: 1 });
    const pub = await t.client({ protocolVersion: 4 });
    await pub.publishAsync('old/1', 'for the old session', { qos: 1 });
    await pub.publishAsync('probe', 'probe', { qos: 1 });
    await got.waitFor(1);
    await sleep(50);
    expect(got.messages.map((m) => m.topic)).toEqual(['probe']);
  });

  it('5.0 Session Expiry Interval 60, taken over with clean=false: resumed (sessionPresent 1, subscriptions kept)', async () => {
    t = await startBroker();
    const opts = { protocolVersion: 5 as const, clean: false, clientId: 'persistent-takeover', properties: { sessionExpiryInterval: 60 } };
    const old = await t.client(opts);
    await old.subscribeAsync('old/#', { qos: 1 });
    const oldClosed = closed(old);
    const next = t.open(opts);
    const got = collect(next);
    expect((await connected(next)).sessionPresent).toBe(true);
    await oldClosed;
    const pub = await t.client({ protocolVersion: 4 });
    await pub.publishAsync('old/1', 'still subscribed', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0]?.payload).toBe('still subscribed');
  });
});

describe('observer order on takeover', () => {
  it('onDisconnected of the old connection is reported before onConnected of the new one, once', async () => {
    const events: string[] = [];
    const recorder: Plugin = {
      onConnected: (client) => events.push(`connected ${client.id}`),
      onDisconnected: (client, reason) => events.push(`disconnected ${client.id} (${reason})`),
    };
    t = await startBroker({ plugins: [recorder] });
    const first = await t.client({ protocolVersion: 5, clientId: 'ordered' });
    const firstClosed = closed(first);
    await t.client({ protocolVersion: 5, clientId: 'ordered' });
    await firstClosed;
    await sleep(100); // the old socket's close has been handled too
    expect(events).toEqual(['connected ordered', 'disconnected ordered (session taken over)', 'connected ordered']);
  });
});
