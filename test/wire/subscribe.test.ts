import { afterEach, describe, expect, it } from 'vitest';
import type { ISubackPacket, IUnsubackPacket } from 'mqtt-packet';
import { collect } from '../helpers/broker.js';
import { Prop, frame, props, publishFrame, str, u16 } from '../helpers/frames.js';
import { WireHarness, expectClosedSilently, expectConnackRefusal, expectDisconnect } from './harness.js';

const w = new WireHarness();
afterEach(() => w.cleanup());

/** A SUBSCRIBE from (filter, options byte) pairs; MQTT 5 adds a property block. */
function subscribeFrame(version: 4 | 5, id: number, entries: [string | Buffer, number][], properties = props()): Buffer {
  const payload = entries.map(([filter, options]) => Buffer.concat([str(filter), Buffer.from([options])]));
  return frame(0x82, u16(id), version === 5 ? properties : Buffer.alloc(0), ...payload);
}

function unsubscribeFrame(version: 4 | 5, id: number, filters: string[]): Buffer {
  return frame(0xa2, u16(id), version === 5 ? props() : Buffer.alloc(0), ...filters.map((f) => str(f)));
}

/** Invalid filters and why [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1] [MQTT-4.8.2-1] [MQTT-4.8.2-2]. */
const invalidFilters = ['a/#/b', 'a+', '', 'sport/tennis#', 'a/b+/c', '##', '$share//a', '$share/g', '$share/g+/a'];

describe('topic filters in SUBSCRIBE', () => {
  for (const version of [4, 5] as const) {
    const failure = version === 5 ? 0x8f : 0x80;
    const v = version === 5 ? '5.0' : '3.1.1';

    it(`${v}: each invalid filter gets 0x${failure.toString(16)} in SUBACK; valid ones in the same packet are granted`, async () => {
      await w.start();
      const { c } = await w.connected(version);
      const entries: [string, number][] = [['ok/+', 1]];
      for (const f of invalidFilters) entries.push([f, 0], ['ok/#', 2]);
      c.write(subscribeFrame(version, 11, entries));
      const suback = (await c.next('suback')) as ISubackPacket;
      expect(suback.messageId).toBe(11);
      const expected = [1];
      for (const _ of invalidFilters) expected.push(failure, 2);
      expect(suback.granted).toEqual(expected);
      // The valid filters really are in place
      c.write(publishFrame({ topic: 'ok/1', properties: version === 5 ? props() : undefined, payload: 'hello' }));
      const publish = await c.next('publish');
      expect(publish).toMatchObject({ topic: 'ok/1' });
      expect(c.isClosed).toBe(false);
    });

    it(`${v}: a filter with ill-formed UTF-8 closes the connection`, async () => {
      await w.start();
      const { c } = await w.connected(version);
      c.write(subscribeFrame(version, 1, [[Buffer.from([0x61, 0xc3, 0x28]), 0]]));
      if (version === 5) await expectDisconnect(c, 0x81);
      else await expectClosedSilently(c);
    });
  }

  it('[MQTT-3.8.3-3] 3.1.1: a SUBSCRIBE without filters closes the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(subscribeFrame(4, 1, []));
    await expectClosedSilently(c);
  });

  it('[MQTT-3.8.3-2] 5.0: a SUBSCRIBE without filters gets DISCONNECT 0x82 (or 0x81), then close', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(subscribeFrame(5, 1, []));
    await expectDisconnect(c, [0x82, 0x81]);
  });

  it('[MQTT-3.8.3-4] 3.1.1: requested QoS 3 closes the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(subscribeFrame(4, 1, [['a', 3]]));
    await expectClosedSilently(c);
  });

  it('[MQTT-3.8.3-4] 3.1.1: reserved bits in the requested QoS byte close the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(subscribeFrame(4, 1, [['a', 0x04]]));
    await expectClosedSilently(c);
  });

  it('[MQTT-3.8.3-5] 5.0: reserved bits 6-7 in Subscription Options get DISCONNECT 0x81', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(subscribeFrame(5, 1, [['a', 0x40]]));
    await expectDisconnect(c, 0x81);
  });

  it('5.0: Retain Handling 3 gets DISCONNECT 0x81 (or 0x82)', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(subscribeFrame(5, 1, [['a', 0x30]]));
    await expectDisconnect(c, [0x81, 0x82]);
  });

  it('5.0: Subscription Identifier 0 gets DISCONNECT 0x82 (or 0x81)', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(subscribeFrame(5, 1, [['a', 0]], props(Prop.subscriptionIdentifier(0))));
    await expectDisconnect(c, [0x82, 0x81]);
  });

  it('[MQTT-3.8.3-4] 5.0: No Local on a shared subscription gets DISCONNECT 0x82', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(subscribeFrame(5, 1, [['$share/g/a', 0x04]]));
    await expectDisconnect(c, 0x82);
  });

  it('[MQTT-2.3.1-1] 3.1.1: a SUBSCRIBE with packet identifier 0 closes the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(subscribeFrame(4, 0, [['a', 0]]));
    await expectClosedSilently(c);
  });

  it('[MQTT-2.2.1-3] 5.0: a SUBSCRIBE with packet identifier 0 gets DISCONNECT 0x81 (or 0x82)', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(subscribeFrame(5, 0, [['a', 0]]));
    await expectDisconnect(c, [0x81, 0x82]);
  });
});

describe('UNSUBSCRIBE', () => {
  it('[MQTT-2.3.1-1] 3.1.1: an UNSUBSCRIBE with packet identifier 0 closes the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(unsubscribeFrame(4, 0, ['a']));
    await expectClosedSilently(c);
  });

  it('[MQTT-3.10.3-2] 3.1.1: an UNSUBSCRIBE without filters closes the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(unsubscribeFrame(4, 1, []));
    await expectClosedSilently(c);
  });

  it('[MQTT-3.10.3-2] 5.0: an UNSUBSCRIBE without filters gets DISCONNECT 0x82 (or 0x81)', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(unsubscribeFrame(5, 1, []));
    await expectDisconnect(c, [0x82, 0x81]);
  });

  it('[MQTT-3.10.4-5] 5.0: UNSUBACK has one reason code per filter', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(subscribeFrame(5, 1, [['x/y', 0]]));
    await c.next('suback');
    c.write(unsubscribeFrame(5, 2, ['x/y', 'never/subscribed', '$share/g/x/y']));
    const unsuback = (await c.next('unsuback')) as IUnsubackPacket;
    expect(unsuback).toMatchObject({ messageId: 2, granted: [0x00, 0x11, 0x11] });
  });

  it('[MQTT-3.10.4-5] 3.1.1: UNSUBACK is sent even when nothing matched', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(unsubscribeFrame(4, 3, ['never/subscribed']));
    expect(await c.next('unsuback')).toMatchObject({ messageId: 3 });
  });
});

/** Filters that break section 4.7 in UNSUBSCRIBE: empty, misplaced wildcards, malformed shared filters. */
const badUnsubscribe: [string, string][] = [
  ['[MQTT-4.7.3-1]', ''],
  ['[MQTT-4.7.1-3]', '+x'],
  ['[MQTT-4.7.1-3]', 'a/b+'],
  ['[MQTT-4.7.1-2]', 'x#'],
  ['[MQTT-4.7.1-2]', '#/x'],
  ['[MQTT-4.7.1-2]', '##'],
  ['[MQTT-4.8.2-1]', '$share//a'],
  ['[MQTT-4.8.2-2]', '$share/g'],
  ['[MQTT-4.8.2-2]', '$share/g+/a'],
];

describe('an invalid topic filter in UNSUBSCRIBE closes the connection [MQTT-4.8.0-1]', () => {
  it.each(badUnsubscribe)('%s 3.1.1: UNSUBSCRIBE %j closes the connection without UNSUBACK', async (_id, filter) => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(unsubscribeFrame(4, 1, [filter]));
    await expectClosedSilently(c);
  });

  it.each(badUnsubscribe)('%s 5.0: UNSUBSCRIBE %j gets DISCONNECT 0x81 (Malformed Packet), then close', async (_id, filter) => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(unsubscribeFrame(5, 1, [filter]));
    await expectDisconnect(c, 0x81);
  });

  it('the whole UNSUBSCRIBE is refused: a valid filter beside an invalid one stays subscribed', async () => {
    const tb = await w.start();
    const { c } = await w.connected(4, { clientId: 'keeps', clean: false });
    c.write(subscribeFrame(4, 1, [['keep/me', 1]]));
    await c.next('suback');
    c.write(unsubscribeFrame(4, 2, ['keep/me', 'x#']));
    await expectClosedSilently(c);
    expect(tb.broker.session('keeps')?.subscriptions).toBe(1);
  });

  it('3.1 (level 3): an empty filter in UNSUBSCRIBE closes the connection too', async () => {
    await w.start();
    const { c } = await w.connected(3);
    c.write(frame(0xa2, u16(1), str('')));
    await expectClosedSilently(c);
  });
});

describe('duplicated MQTT 5 properties', () => {
  it('5.0: a Subscription Identifier given twice is a Protocol Error: DISCONNECT 0x82, and other clients are unaffected', async () => {
    const tb = await w.start();
    const { c } = await w.connected(5);
    c.write(subscribeFrame(5, 1, [['dup/t', 0]], props(Prop.subscriptionIdentifier(1), Prop.subscriptionIdentifier(2))));
    const pub = await tb.client({ protocolVersion: 5 });
    await pub.publishAsync('dup/t', 'x', { qos: 1 });
    expect(pub.connected).toBe(true);
    await expectDisconnect(c, 0x82);
  });

  it('5.0: a Topic Alias given twice is a Protocol Error: DISCONNECT 0x82', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: 'a', properties: props(Prop.topicAlias(1), Prop.topicAlias(2)), payload: 'x' }));
    await expectDisconnect(c, 0x82);
  });
});

describe('§2.2.2 MQTT 5: a packet that ends where its Property Length is due is a Malformed Packet', () => {
  const cut: [string, Buffer][] = [
    ['SUBSCRIBE ending after its packet identifier', frame(0x82, u16(1))],
    ['UNSUBSCRIBE ending after its packet identifier', frame(0xa2, u16(1))],
    ['QoS 0 PUBLISH ending after its Topic Name', frame(0x30, str('a'))],
    ['QoS 1 PUBLISH ending after its packet identifier', frame(0x32, str('a'), u16(1))],
  ];

  it.each(cut)('%s: DISCONNECT 0x81, then close', async (_name, bytes) => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(bytes);
    await expectDisconnect(c, 0x81);
  });

  it('the same, followed at once by another packet in the same segment: still 0x81 (the next packet is not read as properties)', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(Buffer.concat([frame(0x82, u16(1)), Buffer.from([0xc0, 0x00])]));
    await expectDisconnect(c, 0x81);
  });

  it('a CONNECT ending after its Keep Alive: CONNACK 0x81, then close', async () => {
    await w.start();
    const c = await w.raw(5);
    c.write(frame(0x10, str('MQTT'), [5, 0x02], u16(0)));
    await expectConnackRefusal(c, 0x81, 5);
  });

  it('DISCONNECT may end before its Property Length (Remaining Length 0 or 1): a normal disconnect, the will discarded', async () => {
    const tb = await w.start();
    const watcher = await tb.client({ protocolVersion: 5 });
    const wills = collect(watcher);
    await watcher.subscribeAsync('short/will');
    for (const body of [[], [0x00]]) {
      const will = { topic: 'short/will', payload: Buffer.from(`will ${body.length}`), qos: 0, retain: false };
      const { c } = await w.connected(5, { clientId: `short-${body.length}`, will });
      c.write(frame(0xe0, body));
      await expectClosedSilently(c);
    }
    await watcher.publishAsync('short/will', 'sentinel');
    await wills.waitFor(1);
    expect(wills.messages.map((m) => m.payload)).toEqual(['sentinel']);
  });
});
