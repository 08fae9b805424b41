import { afterEach, describe, expect, it } from 'vitest';
import type { Plugin } from '../../src/index.js';
import { collect, sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';

const opened: TestBroker[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
});

async function start(options: Parameters<typeof startBroker>[0] = {}): Promise<TestBroker> {
  const t = await startBroker({ sysInterval: 1, ...options });
  opened.push(t);
  return t;
}

/** Latest payload per $SYS topic, as a subscriber sees them. */
function sysView(messages: { topic: string; payload: string }[]): Record<string, string> {
  return Object.fromEntries(messages.map((m) => [m.topic.replace('$SYS/broker/', ''), m.payload]));
}

describe('$SYS topics', () => {
  it('publishes Mosquitto-named topics, retained, with live figures', async () => {
    const t = await start();
    const sub = await t.client({ clientId: 'watcher' });
    const got = collect(sub);
    await sub.subscribeAsync('$SYS/#', { qos: 0 });
    await got.waitFor(10); // the retained values arrive at once
    expect(got.messages.every((m) => m.packet.retain)).toBe(true);
    const first = sysView(got.messages);
    expect(first.version).toMatch(/^midge version \d+\.\d+\.\d+/);
    expect(first.uptime).toMatch(/^\d+ seconds$/);
    const pub = await t.client();
    for (let i = 0; i < 3; i++) await pub.publishAsync('data/x', 'v', { qos: 1 });
    // The next tick (1 s) carries the new counts
    const before = got.messages.length;
    await until(() => got.messages.length > before + 10 && sysView(got.messages.slice(before))['clients/connected'] === '2', 'the next $SYS tick', 4000);
    const view = sysView(got.messages.slice(before));
    expect(view['clients/connected']).toBe('2');
    expect(view['clients/total']).toBe('2');
    expect(view['publish/messages/received']).toBe('3');
    expect(Number(view['messages/received'])).toBeGreaterThanOrEqual(3 + 2);
    expect(Number(view['bytes/received'])).toBeGreaterThan(0);
    expect(Number(view['load/publish/received/1min'])).toBeGreaterThan(0);
    for (const key of ['load/messages/received/1min', 'load/messages/sent/5min', 'load/bytes/sent/15min', 'load/connections/1min', 'retained messages/count', 'subscriptions/count', 'clients/maximum', 'clients/disconnected']) {
      expect(view[key], key).toBeDefined();
    }
  });

  it('a # subscription does not receive $SYS topics [MQTT-4.7.2-1]', async () => {
    const t = await start();
    const sub = await t.client();
    const got = collect(sub);
    await sub.subscribeAsync('#', { qos: 0 });
    await sleep(1300);
    expect(got.messages.filter((m) => m.topic.startsWith('$SYS'))).toEqual([]);
  });

  it('ACLs apply: a client refused $SYS/# gets no $SYS message', async () => {
    const acl: Plugin = { authorizeSubscribe: (client, sub) => client.username === 'admin' || !sub.filter.startsWith('$SYS') };
    const t = await start({ plugins: [acl] });
    const user = await t.client({ protocolVersion: 5, username: 'user' });
    const admin = await t.client({ protocolVersion: 5, username: 'admin' });
    const userGot = collect(user);
    const adminGot = collect(admin);
    await expect(user.subscribeAsync('$SYS/broker/uptime', { qos: 0 })).rejects.toThrow(/Not authorized/);
    await admin.subscribeAsync('$SYS/broker/uptime', { qos: 0 });
    await adminGot.waitFor(2, 3000); // the retained value, then the next tick
    expect(userGot.messages).toEqual([]);
  });

  it('sysInterval 0 publishes nothing', async () => {
    const t = await start({ sysInterval: 0 });
    const sub = await t.client();
    const got = collect(sub);
    await sub.subscribeAsync('$SYS/#');
    await sleep(300);
    expect(got.messages).toEqual([]);
    expect(t.broker.retainedCount).toBe(0);
  });
});

describe('$SYS is read-only for clients', () => {
  it('a client PUBLISH to $SYS/... is refused (0x87 in MQTT 5) and does not replace the broker value', async () => {
    const t = await start();
    const v5 = await t.client({ protocolVersion: 5 });
    await expect(v5.publishAsync('$SYS/broker/version', 'spoofed', { qos: 1, retain: true })).rejects.toThrow(/Not authorized/);
    const v4 = await t.client();
    await v4.publishAsync('$SYS/broker/uptime', 'spoofed', { qos: 1, retain: true }); // 3.1.1: acknowledged and dropped
    const reader = await t.client();
    const got = collect(reader);
    await reader.subscribeAsync('$SYS/broker/+', { qos: 0 });
    await got.waitFor(2);
    expect(got.messages.map((m) => m.payload)).not.toContain('spoofed');
    expect(t.broker.stats.dropped['not-authorized']).toBe(2);
  });
});
