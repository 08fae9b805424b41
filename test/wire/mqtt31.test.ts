/**
 * MQTT 3.1 (protocol name "MQIsdp", level 3) where it differs from 3.1.1: the DUP flag on resent
 * PUBREL, SUBSCRIBE and UNSUBSCRIBE packets (3.1 section 2.1).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { collect, sleep, until } from '../helpers/broker.js';
import { frame, props, publishFrame, str, u16 } from '../helpers/frames.js';
import { WireHarness, expectClosedSilently, expectDisconnect } from './harness.js';

const w = new WireHarness();
afterEach(() => w.cleanup());

describe('3.1 §2.1: DUP on a resent PUBREL, SUBSCRIBE or UNSUBSCRIBE', () => {
  it('a QoS 2 publisher that reconnects and resends PUBREL with DUP (0x6A) gets PUBCOMP; the message is delivered once', async () => {
    const tb = await w.start();
    const sub = await tb.client();
    const got = collect(sub);
    await sub.subscribeAsync('v31/#', { qos: 2 });
    const first = (await w.connected(3, { clientId: 'v31-pub', clean: false })).c;
    first.write(publishFrame({ topic: 'v31/t', qos: 2, id: 7, payload: 'once' }));
    expect(await first.next('pubrec')).toMatchObject({ messageId: 7 });
    first.close(); // the PUBREL is lost with the connection
    await first.waitClosed();
    const again = (await w.connected(3, { clientId: 'v31-pub', clean: false })).c;
    again.write(frame(0x6a, u16(7)));
    expect(await again.next('pubcomp')).toMatchObject({ messageId: 7 });
    await got.waitFor(1);
    await sleep(100);
    expect(got.messages.map((m) => m.payload)).toEqual(['once']);
  });

  it('SUBSCRIBE resent with DUP (0x8A) gets SUBACK, and UNSUBSCRIBE resent with DUP (0xAA) gets UNSUBACK', async () => {
    await w.start();
    const { c } = await w.connected(3);
    c.write(frame(0x8a, u16(3), str('v31/dup'), [1]));
    expect(await c.next('suback')).toMatchObject({ messageId: 3, granted: [1] });
    c.write(publishFrame({ topic: 'v31/dup', payload: 'x' }));
    expect(await c.next('publish')).toMatchObject({ topic: 'v31/dup' });
    c.write(frame(0xaa, u16(4), str('v31/dup')));
    expect(await c.next('unsuback')).toMatchObject({ messageId: 4 });
  });

  it.each([
    ['PUBREL with flags 0000', 0x60, u16(1)],
    ['PUBREL with flags 1000 (DUP without QoS 1)', 0x68, u16(1)],
    ['PUBACK with DUP', 0x48, u16(1)],
    ['PUBCOMP with DUP', 0x78, u16(1)],
  ])('3.1: other flags are still refused: %s closes the connection', async (_name, first, body) => {
    await w.start();
    const { c } = await w.connected(3);
    c.write(frame(first, body));
    await expectClosedSilently(c);
  });

  it('[MQTT-3.6.1-1] 3.1.1: PUBREL with DUP (0x6A) closes the connection', async () => {
    await w.start();
    const { c } = await w.connected(4);
    c.write(frame(0x6a, u16(1)));
    await expectClosedSilently(c);
  });

  it('[MQTT-3.6.1-1] 5.0: PUBREL with DUP (0x6A) gets DISCONNECT 0x81', async () => {
    await w.start();
    const { c } = await w.connected(5);
    c.write(frame(0x6a, u16(1), [0x00], props()));
    await expectDisconnect(c, 0x81);
  });
});

describe('MQTT 3.1 CONNACK', () => {
  async function reconnectBytes(level: 3 | 4): Promise<Buffer> {
    const tb = await w.start();
    const first = await w.raw(level);
    await first.handshake({ clientId: `resumed-${level}`, clean: false });
    first.close();
    await until(() => tb.broker.clientCount === 0, 'the first connection to be gone');
    const second = await w.raw(level);
    const bytes: Buffer[] = [];
    second.socket.on('data', (d: Buffer) => bytes.push(d));
    await second.handshake({ clientId: `resumed-${level}`, clean: false });
    return Buffer.concat(bytes).subarray(0, 4);
  }

  it('3.1 (level 3): the first variable-header byte is 0 even when a session was resumed', async () => {
    expect([...(await reconnectBytes(3))]).toEqual([0x20, 0x02, 0x00, 0x00]);
  });

  it('[MQTT-3.2.2-2] 3.1.1 (level 4): the same reconnection has Session Present 1', async () => {
    expect([...(await reconnectBytes(4))]).toEqual([0x20, 0x02, 0x01, 0x00]);
  });
});
