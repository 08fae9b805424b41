import type { ErrorWithReasonCode } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClientInfo, Credentials, Message, Plugin } from '../../src/index.js';
import { collect, sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';
import { connectFrame, str } from '../helpers/frames.js';

let t: TestBroker;
afterEach(async () => t?.close());

const onlyAlice: Plugin = {
  name: 'only-alice',
  authenticate: (_client: ClientInfo, creds: Credentials) => creds.username === 'alice' && creds.password?.toString() === 'secret',
};

describe('authenticate', () => {
  it('[MQTT-3.2.2-6] 5.0: a denial answers CONNACK 0x86 and closes the connection', async () => {
    t = await startBroker({ plugins: [onlyAlice] });
    const err = (await t.client({ protocolVersion: 5, username: 'mallory', password: 'guess' }).catch((e: unknown) => e)) as ErrorWithReasonCode;
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(0x86);
    await until(() => t.broker.clientCount === 0 && t.broker.sessionCount === 0, 'no client and no session');
    // the broker itself closes the socket after the refusal [MQTT-3.2.2-7]
    const r = await Wire.open(t.port, 5);
    try {
      expect(await r.handshake({ username: 'mallory', password: Buffer.from('guess') })).toMatchObject({ reasonCode: 0x86 });
      await r.waitClosed();
    } finally {
      r.close();
    }
  });

  it('[MQTT-3.2.2-5] 3.1.1: a denial answers CONNACK return code 4 and closes the connection', async () => {
    t = await startBroker({ plugins: [onlyAlice] });
    const err = (await t.client({ protocolVersion: 4, username: 'mallory', password: 'guess' }).catch((e: unknown) => e)) as ErrorWithReasonCode;
    expect(err.code).toBe(4);
    expect(t.broker.sessionCount).toBe(0);
    const r = await Wire.open(t.port, 4);
    try {
      expect(await r.handshake({ username: 'mallory', password: Buffer.from('guess') })).toMatchObject({ returnCode: 4, sessionPresent: false });
      await r.waitClosed();
    } finally {
      r.close();
    }
  });

  it('[MQTT-3.2.2-5] a denial without a user name is "not authorized": 3.1.1 and 3.1 return code 5, 5.0 0x87 (as Mosquitto)', async () => {
    t = await startBroker({ plugins: [onlyAlice] });
    for (const [version, expected] of [[4, { returnCode: 5 }], [3, { returnCode: 5 }], [5, { reasonCode: 0x87 }]] as const) {
      const r = await Wire.open(t.port, version);
      try {
        expect(await r.handshake()).toMatchObject({ ...expected, sessionPresent: false });
        await r.waitClosed();
      } finally {
        r.close();
      }
    }
    // 5.0 allows a password without a user name: still no user name to be wrong
    const r = await Wire.open(t.port, 5);
    try {
      r.write(connectFrame({ level: 5, flags: 0x02 | 0x40, rest: str('secret') }));
      expect(await r.next('connack')).toMatchObject({ reasonCode: 0x87 });
    } finally {
      r.close();
    }
    expect(t.broker.sessionCount).toBe(0);
  });

  it('accepted credentials connect, and the plugin sees the client id, user name, version and listener', async () => {
    const seen: { client: ClientInfo; creds: Credentials }[] = [];
    t = await startBroker({
      plugins: [{ authenticate: (client, creds) => (seen.push({ client, creds }), onlyAlice.authenticate?.(client, creds) ?? false) }],
    });
    const c = await t.client({ protocolVersion: 5, clientId: 'alice-1', username: 'alice', password: 'secret' });
    expect(c.connected).toBe(true);
    expect(seen[0]?.client).toMatchObject({ id: 'alice-1', username: 'alice', protocolVersion: 5, listener: 'tcp' });
    expect(seen[0]?.creds.password?.toString()).toBe('secret');
  });

  it('an async gate is awaited and the first denial wins', async () => {
    const calls: string[] = [];
    t = await startBroker({
      plugins: [
        { authenticate: async () => (calls.push('first'), await sleep(20), false) },
        { authenticate: () => (calls.push('second'), true) },
      ],
    });
    const err = (await t.client({ protocolVersion: 5 }).catch((e: unknown) => e)) as ErrorWithReasonCode;
    expect(err.code).toBe(0x87); // no user name: not authorized
    expect(calls).toEqual(['first']);
  });
});

describe('authorizePublish', () => {
  const noSecrets: Plugin = { authorizePublish: (_c, m: Message) => !m.topic.startsWith('secret/') };

  it('5.0: a denied QoS 1 PUBLISH gets PUBACK 0x87 and is not delivered', async () => {
    t = await startBroker({ plugins: [noSecrets] });
    const sub = await t.client({ protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('#', { qos: 1 });
    const pub = await t.client({ protocolVersion: 5 });
    const err = (await pub.publishAsync('secret/plan', 'x', { qos: 1 }).catch((e: unknown) => e)) as ErrorWithReasonCode;
    expect(err.code).toBe(0x87);
    await pub.publishAsync('public/news', 'y', { qos: 1 });
    await got.waitFor(1);
    await sleep(100);
    expect(got.messages.map((m) => m.topic)).toEqual(['public/news']);
    expect(t.broker.stats.dropped['not-authorized']).toBe(1);
    expect(pub.connected).toBe(true);
  });

  it('5.0: a denied QoS 2 PUBLISH gets PUBREC 0x87 and is not delivered', async () => {
    t = await startBroker({ plugins: [noSecrets] });
    const sub = await t.client({ protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('#', { qos: 2 });
    const pub = await t.client({ protocolVersion: 5 });
    const err = (await pub.publishAsync('secret/plan', 'x', { qos: 2 }).catch((e: unknown) => e)) as ErrorWithReasonCode;
    expect(err.code).toBe(0x87);
    await sleep(100);
    expect(got.messages).toEqual([]);
  });

  it('3.1.1: a denied PUBLISH is acknowledged (no negative ack exists) and dropped', async () => {
    const drops: string[] = [];
    t = await startBroker({ plugins: [noSecrets, { onDropped: (d) => void drops.push(`${d.reason}:${d.message.topic}`) }] });
    const sub = await t.client({ protocolVersion: 4 });
    const got = collect(sub);
    await sub.subscribeAsync('#', { qos: 1 });
    const pub = await t.client({ protocolVersion: 4 });
    await pub.publishAsync('secret/plan', 'x', { qos: 1 });
    await pub.publishAsync('secret/plan', 'x', { qos: 0 });
    await pub.publishAsync('public/news', 'y', { qos: 1 });
    await got.waitFor(1);
    await sleep(100);
    expect(got.messages.map((m) => m.topic)).toEqual(['public/news']);
    expect(drops).toEqual(['not-authorized:secret/plan', 'not-authorized:secret/plan']);
    expect(pub.connected).toBe(true);
  });
});

describe('authorizeSubscribe', () => {
  const noSecrets: Plugin = { authorizeSubscribe: (_c, sub) => !sub.filter.startsWith('secret/') && sub.filter !== '#' };

  it.each([
    [5, 0x87],
    [4, 0x80],
  ] as const)('level %i: a denied filter gets SUBACK 0x%s, the others are granted, and nothing is delivered on it', async (protocolVersion, code) => {
    t = await startBroker({ plugins: [noSecrets] });
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    const err = (await sub.subscribeAsync({ 'secret/+': { qos: 1 }, 'open/+': { qos: 1 } }).catch((e: unknown) => e)) as {
      packet?: { granted: number[] };
    };
    expect(err.packet?.granted).toEqual([code, 1]);
    const pub = await t.client({ protocolVersion });
    await pub.publishAsync('secret/x', 'hidden', { qos: 1 });
    await pub.publishAsync('open/x', 'shown', { qos: 1 });
    await got.waitFor(1);
    await sleep(100);
    expect(got.messages.map((m) => m.payload)).toEqual(['shown']);
  });
});

describe('onPublish transform', () => {
  it('can rewrite a message before it is routed (and retained)', async () => {
    t = await startBroker({
      plugins: [{ onPublish: (_c, m) => (m.topic.startsWith('up/') ? { ...m, payload: Buffer.from(m.payload.toString().toUpperCase()) } : m) }],
    });
    const sub = await t.client({ protocolVersion: 4 });
    const got = collect(sub);
    await sub.subscribeAsync('up/#', { qos: 1 });
    const pub = await t.client({ protocolVersion: 5 });
    await pub.publishAsync('up/a', 'shout', { qos: 1, retain: true });
    await got.waitFor(1);
    expect(got.messages[0]?.payload).toBe('SHOUT');
    const later = await t.client({ protocolVersion: 4 });
    const got2 = collect(later);
    await later.subscribeAsync('up/a', { qos: 1 });
    await got2.waitFor(1);
    expect(got2.messages[0]?.payload).toBe('SHOUT');
  });

  it('can drop a message by returning null (the publisher is still acknowledged)', async () => {
    const published: string[] = [];
    t = await startBroker({
      plugins: [{ onPublish: (_c, m) => (m.topic === 'drop/me' ? null : m) }, { onPublished: (m) => void published.push(m.topic) }],
    });
    const sub = await t.client({ protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('drop/#', { qos: 1 });
    const pub = await t.client({ protocolVersion: 5 });
    await pub.publishAsync('drop/me', 'x', { qos: 1 });
    await pub.publishAsync('drop/keep', 'y', { qos: 1 });
    await got.waitFor(1);
    await sleep(100);
    expect(got.messages.map((m) => m.topic)).toEqual(['drop/keep']);
    expect(published).toEqual(['drop/keep']);
  });

  it('sees the publishing client (undefined for broker.publish)', async () => {
    const publishers: (string | undefined)[] = [];
    t = await startBroker({ plugins: [{ onPublish: (c, m) => (publishers.push(c?.id), m) }] });
    const pub = await t.client({ protocolVersion: 4, clientId: 'pub-1' });
    await pub.publishAsync('who', 'x', { qos: 1 });
    await t.broker.publish({ topic: 'who', payload: 'y' });
    expect(publishers).toEqual(['pub-1', undefined]);
  });
});

describe('observers', () => {
  it('onConnected, onPublished, onDelivered and onDisconnected fire with the client and message', async () => {
    const events: string[] = [];
    t = await startBroker({
      plugins: [
        {
          onConnected: (c) => void events.push(`connected ${c.id} v${c.protocolVersion}`),
          onDisconnected: (c, reason) => void events.push(`disconnected ${c.id} ${reason.length > 0}`),
          onPublished: (m, c) => void events.push(`published ${m.topic} by ${c?.id}`),
          onDelivered: (id, m) => void events.push(`delivered ${m.topic} to ${id}`),
        },
      ],
    });
    const sub = await t.client({ protocolVersion: 5, clientId: 'obs-sub' });
    const got = collect(sub);
    await sub.subscribeAsync('obs/t', { qos: 1 });
    const pub = await t.client({ protocolVersion: 4, clientId: 'obs-pub' });
    await pub.publishAsync('obs/t', 'x', { qos: 1 });
    await got.waitFor(1);
    await pub.endAsync();
    await until(() => events.some((e) => e.startsWith('disconnected obs-pub')), 'onDisconnected');
    await until(() => events.includes('delivered obs/t to obs-sub'), 'onDelivered after PUBACK');
    expect(events).toEqual(
      expect.arrayContaining([
        'connected obs-sub v5',
        'connected obs-pub v4',
        'published obs/t by obs-pub',
        'delivered obs/t to obs-sub',
        'disconnected obs-pub true',
      ]),
    );
    expect(events.indexOf('connected obs-sub v5')).toBeLessThan(events.indexOf('published obs/t by obs-pub'));
  });

  it('a throwing observer does not break the broker or the other plugins', async () => {
    const calls: string[] = [];
    const boom = (): never => {
      throw new Error('observer bug');
    };
    t = await startBroker({
      plugins: [
        { onConnected: boom, onPublished: boom, onDisconnected: boom, onDelivered: boom },
        { onConnected: (c) => void calls.push(`connected ${c.id}`), onPublished: (m) => void calls.push(`published ${m.topic}`) },
      ],
    });
    const sub = await t.client({ protocolVersion: 5, clientId: 'resilient' });
    const got = collect(sub);
    await sub.subscribeAsync('boom/t', { qos: 1 });
    const pub = await t.client({ protocolVersion: 4 });
    await pub.publishAsync('boom/t', 'still works', { qos: 1 });
    await pub.publishAsync('boom/t', 'and again', { qos: 0 });
    await got.waitFor(2);
    expect(got.messages.map((m) => m.payload)).toEqual(['still works', 'and again']);
    expect(calls).toContain('connected resilient');
    expect(calls.filter((c) => c === 'published boom/t')).toHaveLength(2);
    await pub.endAsync();
    await until(() => t.broker.clientCount === 1, 'the publisher to be gone');
    expect(sub.connected).toBe(true);
  });

  it('init(broker) runs at start and close() at broker.close()', async () => {
    const lifecycle: string[] = [];
    t = await startBroker({
      plugins: [{ init: (b) => void lifecycle.push(`init ${b === undefined ? 'none' : 'broker'}`), close: () => void lifecycle.push('close') }],
    });
    expect(lifecycle).toEqual(['init broker']);
    await t.close();
    expect(lifecycle).toEqual(['init broker', 'close']);
  });
});
