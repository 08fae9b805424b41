import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Drop } from '../../src/index.js';
import { isBrokerError } from '../../src/errors.js';
import { resolveOptions } from '../../src/options.js';
import { collect, connackOf, connected, nextDisconnect, sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';

let t: TestBroker | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const v5 = { protocolVersion: 5 } as const;
/** Not well-formed UTF-8: 0xFF never appears in UTF-8, 0xC3 starts a sequence that is cut short. */
const NOT_UTF8 = Buffer.from([0x68, 0x69, 0xff, 0xc3]);

describe('options', () => {
  it('sharedSubscriptionStrategy, responseInformationPrefix and validatePayloadFormat are validated', () => {
    const o = resolveOptions({});
    expect(o.sharedSubscriptionStrategy).toBe('round-robin');
    expect(o.responseInformationPrefix).toBe('response/');
    expect(o.validatePayloadFormat).toBe(true);
    for (const bad of [{ sharedSubscriptionStrategy: 'fastest' }, { responseInformationPrefix: 5 }, { validatePayloadFormat: 'yes' }]) {
      let err: unknown;
      try {
        resolveOptions(bad as never);
      } catch (e) {
        err = e;
      }
      expect(isBrokerError(err, 'ERR_INVALID_OPTION')).toBe(true);
      expect((err as Error).message).toContain(Object.keys(bad)[0]);
    }
  });
});

describe('shared subscription strategies', () => {
  async function members(ids: string[]): Promise<{ clients: MqttClient[]; got: ReturnType<typeof collect>[] }> {
    const clients: MqttClient[] = [];
    const got: ReturnType<typeof collect>[] = [];
    for (const clientId of ids) {
      const c = await (t as TestBroker).client({ ...v5, clientId });
      got.push(collect(c));
      await c.subscribeAsync('$share/g/jobs', { qos: 1 });
      clients.push(c);
    }
    return { clients, got };
  }

  it("'random' spreads messages over the connected members", async () => {
    t = await startBroker({ sharedSubscriptionStrategy: 'random' });
    const { got } = await members(['r1', 'r2']);
    const pub = await t.client(v5);
    await Promise.all(Array.from({ length: 200 }, (_, i) => pub.publishAsync('jobs', `m${i}`, { qos: 1 })));
    await until(() => (got[0]?.messages.length ?? 0) + (got[1]?.messages.length ?? 0) === 200, '200 deliveries');
    // Binomial(200, 1/2): fewer than 21 for one member has probability below 1e-25
    expect(got[0]?.messages.length).toBeGreaterThan(20);
    expect(got[1]?.messages.length).toBeGreaterThan(20);
  });

  it("'sticky' sends everything to one member until it disconnects, then everything to another", async () => {
    const disconnected: string[] = [];
    t = await startBroker({ sharedSubscriptionStrategy: 'sticky', plugins: [{ onDisconnected: (c) => void disconnected.push(c.id) }] });
    const ids = ['s1', 's2', 's3'];
    const { clients, got } = await members(ids);
    const pub = await t.client(v5);
    for (let i = 0; i < 10; i++) await pub.publishAsync('jobs', `a${i}`, { qos: 1 });
    await until(() => got.reduce((n, g) => n + g.messages.length, 0) === 10, 'first 10 deliveries');
    const first = got.findIndex((g) => g.messages.length > 0);
    expect(got[first]?.messages.map((m) => m.payload)).toEqual(Array.from({ length: 10 }, (_, i) => `a${i}`));

    await clients[first]?.endAsync();
    await until(() => disconnected.includes(ids[first] as string), 'the sticky member to be gone');
    for (let i = 0; i < 10; i++) await pub.publishAsync('jobs', `b${i}`, { qos: 1 });
    await until(() => got.reduce((n, g) => n + g.messages.length, 0) === 20, 'next 10 deliveries');
    const next = got.findIndex((g, i) => i !== first && g.messages.length > 0);
    expect(next).toBeGreaterThanOrEqual(0);
    expect(got[next]?.messages.map((m) => m.payload)).toEqual(Array.from({ length: 10 }, (_, i) => `b${i}`));
  });
});

describe('request/response information', () => {
  it('[MQTT-3.1.2-28] no Response Information unless requested', async () => {
    t = await startBroker();
    const c = await t.client({ ...v5, clientId: 'rr-none' });
    expect(connackOf(c).properties?.responseInformation).toBeUndefined();
  });

  it('Request Response Information = 1: CONNACK carries prefix + client id', async () => {
    t = await startBroker();
    const c = await t.client({ ...v5, clientId: 'rr-1', properties: { requestResponseInformation: true } });
    expect(connackOf(c).properties?.responseInformation).toBe('response/rr-1');
    const assigned = await t.client({ ...v5, clientId: '', properties: { requestResponseInformation: true } });
    const props = connackOf(assigned).properties;
    expect(props?.responseInformation).toBe(`response/${props?.assignedClientIdentifier}`);
  });

  it('responseInformationPrefix sets the prefix; an empty one sends none', async () => {
    t = await startBroker({ responseInformationPrefix: 'rpc/' });
    const c = await t.client({ ...v5, clientId: 'rr-2', properties: { requestResponseInformation: true } });
    expect(connackOf(c).properties?.responseInformation).toBe('rpc/rr-2');
    await t.close();
    t = await startBroker({ responseInformationPrefix: '' });
    const d = await t.client({ ...v5, clientId: 'rr-3', properties: { requestResponseInformation: true } });
    expect(connackOf(d).properties?.responseInformation).toBeUndefined();
  });

  it('[MQTT-3.3.2-14] a Response Topic with a wildcard gets DISCONNECT 0x82', async () => {
    t = await startBroker();
    const c = await t.client(v5);
    c.publish('req', 'x', { qos: 0, properties: { responseTopic: 'reply/#' } });
    expect((await nextDisconnect(c)).reasonCode).toBe(0x82);
  });
});

describe('payload format indicator', () => {
  async function setup(options: { validatePayloadFormat?: boolean } = {}) {
    const drops: Drop[] = [];
    t = await startBroker({ ...options, plugins: [{ onDropped: (d) => void drops.push(d) }] });
    const sub = await t.client(v5);
    const got = collect(sub);
    await sub.subscribeAsync('pfi', { qos: 2 });
    const pub = await t.client({ ...v5, clientId: 'pfi-pub' });
    return { drops, got, pub, tb: t };
  }
  const utf8 = { properties: { payloadFormatIndicator: true } };

  it.each([1, 2] as const)('QoS %i: a payload that is not UTF-8 gets 0x99, is not routed and is counted', async (qos) => {
    const { drops, got, pub, tb } = await setup();
    const err = (await pub.publishAsync('pfi', NOT_UTF8, { qos, ...utf8 }).catch((e: unknown) => e)) as { code?: number };
    expect(err.code).toBe(0x99);
    await pub.publishAsync('pfi', 'héllo', { qos, ...utf8 });
    await got.waitFor(1);
    await sleep(50);
    expect(got.messages.map((m) => m.payload)).toEqual(['héllo']);
    expect(tb.broker.stats.dropped['payload-format-invalid']).toBe(1);
    expect(drops.map((d) => [d.clientId, d.reason])).toEqual([['pfi-pub', 'payload-format-invalid']]);
    expect(pub.connected).toBe(true);
  });

  it('QoS 0: a payload that is not UTF-8 gets DISCONNECT 0x99', async () => {
    const { drops, got, pub, tb } = await setup();
    pub.publish('pfi', NOT_UTF8, { qos: 0, ...utf8 });
    expect((await nextDisconnect(pub)).reasonCode).toBe(0x99);
    await sleep(50);
    expect(got.messages).toEqual([]);
    expect(tb.broker.stats.dropped['payload-format-invalid']).toBe(1);
    expect(drops.map((d) => d.reason)).toEqual(['payload-format-invalid']);
  });

  it('without the indicator, or with validatePayloadFormat: false, any payload is routed', async () => {
    const { got, pub } = await setup({ validatePayloadFormat: false });
    await pub.publishAsync('pfi', NOT_UTF8, { qos: 1, ...utf8 });
    await pub.publishAsync('pfi', NOT_UTF8, { qos: 1 });
    await got.waitFor(2);
    expect(got.messages.map((m) => m.packet.payload)).toEqual([NOT_UTF8, NOT_UTF8]);
  });

  it('a will whose payload is not the UTF-8 it announces: CONNACK 0x99', async () => {
    t = await startBroker();
    const will = { topic: 'w', payload: NOT_UTF8, qos: 0, retain: false, properties: { payloadFormatIndicator: true } } as const;
    const c = t.open({ ...v5, will });
    const err = (await connected(c).catch((e: unknown) => e)) as { code?: number };
    expect(err.code).toBe(0x99);
    const ok = await t.client({ ...v5, will: { ...will, payload: Buffer.from('bye') } });
    expect(ok.connected).toBe(true);
  });
});
