/**
 * Topic Names a client may not publish to: `$share/...` (the shared-subscription prefix, no topic)
 * and `$SYS/...` (the broker's). Refused as not authorized, as in Mosquitto, and counted as drops.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { collect, sleep } from '../helpers/broker.js';
import { frame, props, publishFrame, u16 } from '../helpers/frames.js';
import { WireHarness } from './harness.js';

const w = new WireHarness();
afterEach(() => w.cleanup());

describe('§4.7.2 a $share/ Topic Name in PUBLISH is refused as not authorized', () => {
  it('5.0: QoS 1 gets PUBACK 0x87, QoS 2 PUBREC 0x87, QoS 0 is dropped; nothing is routed, each is counted', async () => {
    const tb = await w.start();
    const shared = await tb.client({ protocolVersion: 5 });
    const all = await tb.client({ protocolVersion: 5 });
    const gotShared = collect(shared);
    const gotAll = collect(all);
    await shared.subscribeAsync('$share/g/t');
    await all.subscribeAsync('#');
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: '$share/g/t', qos: 0, properties: props(), payload: 'q0' }));
    c.write(publishFrame({ topic: '$share/g/t', qos: 1, id: 1, properties: props(), payload: 'q1' }));
    c.write(publishFrame({ topic: '$share/g/t', qos: 2, id: 2, properties: props(), payload: 'q2', retain: true }));
    expect(await c.next('puback')).toMatchObject({ messageId: 1, reasonCode: 0x87 });
    expect(await c.next('pubrec')).toMatchObject({ messageId: 2, reasonCode: 0x87 });
    expect(tb.broker.stats.dropped['not-authorized']).toBe(3);
    // The connection stays open and an ordinary publish still works
    c.write(publishFrame({ topic: 't', qos: 0, properties: props(), payload: 'sentinel' }));
    await gotShared.waitFor(1);
    await gotAll.waitFor(1);
    expect(gotShared.messages.map((m) => m.payload)).toEqual(['sentinel']);
    expect(gotAll.messages.map((m) => m.payload)).toEqual(['sentinel']);
    expect(tb.broker.retainedCount).toBe(0);
  });

  it('3.1.1: QoS 1 and 2 are acknowledged and dropped (no negative acknowledgement exists), QoS 0 dropped; each is counted', async () => {
    const tb = await w.start();
    const all = await tb.client();
    const got = collect(all);
    await all.subscribeAsync('#');
    const { c } = await w.connected(4);
    c.write(publishFrame({ topic: '$share/g/t', qos: 0, payload: 'q0' }));
    c.write(publishFrame({ topic: '$share/g/t', qos: 1, id: 1, payload: 'q1' }));
    c.write(publishFrame({ topic: '$share/g/t', qos: 2, id: 2, payload: 'q2' }));
    expect(await c.next('puback')).toMatchObject({ messageId: 1 });
    expect(await c.next('pubrec')).toMatchObject({ messageId: 2 });
    c.write(frame(0x62, u16(2)));
    expect(await c.next('pubcomp')).toMatchObject({ messageId: 2 });
    expect(tb.broker.stats.dropped['not-authorized']).toBe(3);
    c.write(publishFrame({ topic: 't', payload: 'sentinel' }));
    await got.waitFor(1);
    expect(got.messages.map((m) => m.payload)).toEqual(['sentinel']);
  });

  it('"$share" alone is refused too; "$shared/x" and "x/$share/y" are ordinary topics', async () => {
    const tb = await w.start();
    const all = await tb.client({ protocolVersion: 5 });
    const got = collect(all);
    await all.subscribeAsync(['$shared/x', 'x/$share/y']);
    const { c } = await w.connected(5);
    c.write(publishFrame({ topic: '$share', qos: 1, id: 1, properties: props(), payload: 'no' }));
    expect(await c.next('puback')).toMatchObject({ messageId: 1, reasonCode: 0x87 });
    for (const [id, topic] of [[2, '$shared/x'], [3, 'x/$share/y']] as const) {
      c.write(publishFrame({ topic, qos: 1, id, properties: props(), payload: topic }));
      expect(await c.next('puback')).toMatchObject({ messageId: id, reasonCode: 0 });
    }
    await got.waitFor(2);
    expect(got.messages.map((m) => m.topic).sort()).toEqual(['$shared/x', 'x/$share/y']);
    expect(tb.broker.stats.dropped['not-authorized']).toBe(1);
  });
});

describe('a will to a reserved topic is not published', () => {
  it.each(['$share/g/w', '$SYS/broker/spoofed'])('a will to %s is dropped when its client goes away, and counted', async (topic) => {
    const tb = await w.start();
    const watcher = await tb.client({ protocolVersion: 5 });
    const got = collect(watcher);
    await watcher.subscribeAsync(['$share/g/w', '$SYS/broker/spoofed', 'w/ok']);
    const { c } = await w.connected(4, { will: { topic, payload: Buffer.from('will'), qos: 1, retain: false } });
    c.close();
    await c.waitClosed();
    const ok = await w.connected(4, { will: { topic: 'w/ok', payload: Buffer.from('sentinel'), qos: 1, retain: false } });
    ok.c.close();
    await got.waitFor(1);
    await sleep(50);
    expect(got.messages.map((m) => m.payload)).toEqual(['sentinel']);
    expect(tb.broker.stats.dropped['not-authorized']).toBe(1);
  });
});
