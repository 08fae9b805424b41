import { afterEach, describe, expect, it, vi } from 'vitest';
import type { IConnackPacket } from 'mqtt-packet';
import { collect } from '../helpers/broker.js';
import { connectFrame, frame, props, publishFrame, str, u16, varint } from '../helpers/frames.js';
import { WireHarness, expectClosedSilently, expectDisconnect } from './harness.js';

const w = new WireHarness();
afterEach(() => w.cleanup());

/** Fixed headers whose reserved flag bits are wrong, with an otherwise valid body. */
const badFlags: [string, number, Buffer][] = [
  ['SUBSCRIBE with flags 0000', 0x80, Buffer.concat([u16(1), str('a'), Buffer.from([0])])],
  ['SUBSCRIBE with flags 0011', 0x83, Buffer.concat([u16(1), str('a'), Buffer.from([0])])],
  ['UNSUBSCRIBE with flags 0000', 0xa0, Buffer.concat([u16(1), str('a')])],
  ['PUBREL with flags 0000', 0x60, u16(1)],
  ['PUBREL with flags 1010', 0x6a, u16(1)],
  ['PUBACK with flags 0001', 0x41, u16(1)],
  ['PUBREC with flags 0010', 0x52, u16(1)],
  ['PUBCOMP with flags 1000', 0x78, u16(1)],
  ['PINGREQ with flags 0001', 0xc1, Buffer.alloc(0)],
  ['DISCONNECT with flags 0100', 0xe4, Buffer.alloc(0)],
];

describe('reserved flags in the fixed header', () => {
  it.each(badFlags)('[MQTT-2.2.2-2] 3.1.1: a %s closes the connection', async (_name, first, body) => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(frame(first, body));
    await expectClosedSilently(c);
  });

  it.each(badFlags.slice(0, 4))('[MQTT-2.2.2-2] 5.0: a %s gets DISCONNECT 0x81, then close', async (_name, first, body) => {
    await w.start();
    const { c } = await w.connected(5);
    // MQTT 5 SUBSCRIBE / UNSUBSCRIBE carry a property block after the packet identifier
    const v5body = first >> 4 === 8 || first >> 4 === 10 ? Buffer.concat([body.subarray(0, 2), props(), body.subarray(2)]) : body;
    c.write(frame(first, v5body));
    await expectDisconnect(c, 0x81);
  });

  it('[MQTT-2.2.2-2] a CONNECT with fixed-header flags 0001 closes the connection', async () => {
    await w.start();
    const c = await w.raw(4);
    const bytes = connectFrame();
    bytes[0] = 0x11;
    c.write(bytes);
    await expectClosedSilently(c);
  });

  it('a packet of reserved type 0 closes the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write([0x00, 0x00]);
    await expectClosedSilently(c);
  });
});

/** Packets with one byte more than their fields take (MQTT 3.1.1 section 2.2.3: the Remaining Length counts the fields). */
const trailing311: [string, Buffer][] = [
  ['PUBACK', frame(0x40, u16(1), [0x00])],
  ['PUBREC', frame(0x50, u16(1), [0x00])],
  ['PUBREL', frame(0x62, u16(1), [0x00])],
  ['PUBCOMP', frame(0x70, u16(1), [0x00])],
  ['PINGREQ', frame(0xc0, [0x00])],
  ['DISCONNECT', frame(0xe0, [0x00])],
];

describe('bytes after the last field', () => {
  it.each(trailing311)('[MQTT-4.8.0-1] 3.1.1: a %s with a byte after its last field closes the connection', async (_name, bytes) => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(bytes);
    await expectClosedSilently(c);
  });

  const trailing5: [string, Buffer][] = [
    ['PUBACK (after its properties)', frame(0x40, u16(1), [0x00], props(), [0x00])],
    ['PUBREL (after its properties)', frame(0x62, u16(1), [0x00], props(), [0x00])],
    ['PINGREQ', frame(0xc0, [0x00])],
    ['UNSUBSCRIBE (a filter cut short)', frame(0xa2, u16(1), props(), str('a'), [0x00])],
  ];

  it.each(trailing5)('[MQTT-4.13.1-1] 5.0: a %s with a byte after its last field gets DISCONNECT 0x81', async (_name, bytes) => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(bytes);
    await expectDisconnect(c, 0x81);
  });

  it('5.0: a PUBACK of Remaining Length 3 (reason code, no properties) is well formed', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(frame(0x40, u16(1), [0x00]));
    c.send({ cmd: 'pingreq' });
    await c.next('pingresp');
    expect(c.isClosed).toBe(false);
  });
});

describe('remaining length', () => {
  it('3.1.1: five continuation bytes (0xFF ×5) close the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write([0x30, 0xff, 0xff, 0xff, 0xff, 0xff]);
    await expectClosedSilently(c);
  });

  it('5.0: five continuation bytes get DISCONNECT 0x81, then close', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write([0x30, 0xff, 0xff, 0xff, 0xff, 0xff]);
    await expectDisconnect(c, 0x81);
  });

  it('a five-byte encoding before CONNECT closes the connection', async () => {
    await w.start();
    const c = await w.raw(4);
    c.write([0x10, 0x80, 0x80, 0x80, 0x80, 0x01]);
    await expectClosedSilently(c);
  });

  it('a remaining length that arrives one byte at a time is still read correctly', async () => {
    const tb = await w.start();
    const sub = await tb.client();
    const got = collect(sub);
    await sub.subscribeAsync('slow');
    const { c } = await w.connected(4);
    c.socket.setNoDelay(true);
    const bytes = publishFrame({ topic: 'slow', payload: 'x'.repeat(200) }); // two-byte remaining length
    for (const byte of bytes.subarray(0, 4)) {
      c.write([byte]);
      await new Promise((r) => setImmediate(r));
    }
    c.write(bytes.subarray(4));
    await got.waitFor(1);
    expect(got.messages[0]?.payload).toBe('x'.repeat(200));
  });
});

describe('Maximum Packet Size (maxPacketSize 1024)', () => {
  /** A PUBLISH header announcing `remaining` bytes, followed by only a few of them. */
  const announced = (remaining: number) => Buffer.concat([Buffer.from([0x30]), varint(remaining), str('big'), Buffer.from('abc')]);

  it('3.1.1: a PUBLISH announcing 1 MB is refused from its header, before the body is sent', async () => {
    await w.start({ maxPacketSize: 1024 });
    const { c } = await w.connected(4);
    c.write(announced(1_000_000));
    await expectClosedSilently(c);
  });

  it('§3.2.2.3.6 5.0: CONNACK advertises 1024, and a PUBLISH announcing 1 MB gets DISCONNECT 0x95 from its header', async () => {
    await w.start({ maxPacketSize: 1024 });
    const { c, connack } = await w.connected(5);
    expect((connack as IConnackPacket).properties?.maximumPacketSize).toBe(1024);
    c.write(announced(1_000_000));
    await expectDisconnect(c, 0x95);
  });

  it('a CONNECT announcing 1 MB closes the connection', async () => {
    await w.start({ maxPacketSize: 1024 });
    const c = await w.raw(4);
    c.write(Buffer.concat([Buffer.from([0x10]), varint(1_000_000), str('MQTT'), Buffer.from([4, 2])]));
    await expectClosedSilently(c);
  });

  // The packet size is the whole packet, fixed header included (section 2.1 / 3.2.2.3.6).
  const sized = (total: number) => {
    const remaining = total - 3; // 1 byte type + 2 bytes remaining length for sizes from 131 to 16386
    return publishFrame({ topic: 'big', properties: props(), payload: Buffer.alloc(remaining - 6, 0x61) });
  };

  it('5.0: a PUBLISH of exactly 1024 bytes is accepted', async () => {
    const tb = await w.start({ maxPacketSize: 1024 });
    const sub = await tb.client();
    const got = collect(sub);
    await sub.subscribeAsync('big');
    const { c } = await w.connected(5);
    const bytes = sized(1024);
    expect(bytes.length).toBe(1024);
    c.write(bytes);
    await got.waitFor(1);
    expect(got.messages[0]?.payload.length).toBe(1024 - 9);
  });

  it('§3.2.2.3.6 5.0: a PUBLISH of 1025 bytes (fixed header included) gets DISCONNECT 0x95', async () => {
    await w.start({ maxPacketSize: 1024 });
    const { c } = await w.connected(5);
    const bytes = sized(1025);
    expect(bytes.length).toBe(1025);
    c.write(bytes);
    await expectDisconnect(c, 0x95);
  });

  it('[MQTT-3.1.2-25] 5.0: a message larger than the client\'s Maximum Packet Size is not sent to it', async () => {
    const tb = await w.start();
    const { c } = await w.connected(5, { properties: { maximumPacketSize: 100 } });
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'm', qos: 0 }] });
    await c.next('suback');
    const pub = await tb.client();
    await pub.publishAsync('m', 'x'.repeat(200));
    await pub.publishAsync('m', 'small');
    const first = await c.next('publish');
    expect(first).toMatchObject({ topic: 'm' });
    expect(String((first as { payload: Buffer }).payload)).toBe('small');
  });
});

describe('malformed input does not disturb other clients', () => {
  const garbage: [number, Buffer][] = [
    [4, publishFrame({ topic: Buffer.from([0xc3, 0x28]) })],
    [4, publishFrame({ topic: 'a/#' })],
    [4, frame(0x36, str('a'), u16(1))],
    [4, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0xff])],
    [4, frame(0x80, u16(1), str('a'), [0])],
    [4, frame(0x82, u16(1))],
    [4, frame(0x32, str('a'))],
    [4, frame(0x10, str('MQTT'), [4, 2], u16(0), str('again'))],
    [5, publishFrame({ topic: '', properties: props(Buffer.from([0x23, 0x00, 0x05])) })],
    [5, publishFrame({ topic: 'a', properties: props(Buffer.from([0x23, 0x00, 0x00])) })],
    [5, frame(0xf0, [0x18], props())],
    [5, frame(0x30, str('a'), [0x05, 0x23])],
    [5, frame(0x30, str('a'), [0x02, 0xff, 0x01])],
  ];

  it('a subscriber keeps receiving while misbehaving clients are thrown out one after another', async () => {
    const tb = await w.start();
    const sub = await tb.client({ protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('iso/#', { qos: 1 });
    const pub = await tb.client();
    let sent = 0;
    for (const [version, bytes] of garbage) {
      const { c } = await w.connected(version);
      c.write(bytes);
      await c.waitClosed();
      await pub.publishAsync('iso/t', String(sent++), { qos: 1 });
    }
    await got.waitFor(sent);
    expect(got.messages.map((m) => m.payload)).toEqual(garbage.map((_, i) => String(i)));
    await vi.waitFor(() => expect(tb.broker.clientCount).toBe(2));
    expect(sub.connected && pub.connected).toBe(true);
  });
});
