/** The write buffer of a client that does not read is bounded: the broker stops reading it, and resumes when it reads again. */
import { once } from 'node:events';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

let t: TestBroker | undefined;
const raws: Wire[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  await t?.close();
  t = undefined;
});

function broker(): TestBroker {
  if (!t) throw new Error('no broker started');
  return t;
}

describe('the write buffer is bounded', () => {
  /**
   * A raw 3.1.1 client subscribed to its own topic at QoS 0 stops reading its socket, then sends
   * QoS 1 PUBLISHes (1 KiB payload) as fast as the broker accepts them: every one asks the broker to
   * write a PUBACK and an echo. Stops at `count` or when a write has not drained for 1 s.
   */
  async function flood(port: number, count: number): Promise<{ r: Wire; sent: number }> {
    const r = await Wire.open(port, 4);
    raws.push(r);
    await r.handshake({ clientId: 'flooder' });
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 0 }] });
    await r.next('suback');
    r.socket.pause(); // never reads again
    const payload = Buffer.alloc(1024, 0x61);
    const deadline = Date.now() + 15_000;
    let sent = 0;
    while (sent < count && Date.now() < deadline) {
      const frame = mqttPacket.generate({ cmd: 'publish', topic: 'flood/x', payload, qos: 1, messageId: (sent % 65535) + 1, dup: false, retain: false });
      sent++;
      if (!r.socket.write(frame)) {
        const drained = await Promise.race([once(r.socket, 'drain').then(() => true), sleep(1000).then(() => false)]);
        if (!drained) break;
      }
    }
    return { r, sent };
  }

  it('a client that sends 200k QoS 1 PUBLISHes but never reads is no longer read from; memory stays bounded; others are served', async () => {
    t = await startBroker({ maxWriteBuffer: 64 * 1024 });
    const sub = await t.client({ protocolVersion: 4 });
    const got = collect(sub);
    await sub.subscribeAsync('others/#', { qos: 1 });
    const heapBefore = process.memoryUsage().heapUsed;
    const { sent } = await flood(t.port, 200_000);
    await sleep(300);
    const received = t.broker.stats.messagesReceived;
    // the broker paused reading that socket: most of what the client wanted to send was never read
    expect(sent).toBeLessThan(200_000);
    expect(received).toBeLessThan(sent);
    await sleep(300);
    expect(t.broker.stats.messagesReceived).toBe(received); // and it stays paused
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 2 ** 20);
    // meanwhile an mqtt.js client on the same broker is served
    const pub = await t.client({ protocolVersion: 4 });
    for (let i = 0; i < 10; i++) await pub.publishAsync('others/t', `m${i}`, { qos: 1 });
    await got.waitFor(10);
    expect(got.messages.map((m) => m.payload)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
  });

  it.each([64 * 1024, 4096])('maxWriteBuffer %i: once the client reads again, the broker resumes reading it and acknowledges everything', async (maxWriteBuffer) => {
    t = await startBroker({ maxWriteBuffer });
    const { r, sent } = await flood(t.port, 200_000);
    await sleep(300);
    expect(t.broker.stats.messagesReceived).toBeLessThan(sent); // paused
    r.socket.resume();
    await until(() => broker().broker.stats.messagesReceived === sent, `all ${sent} PUBLISHes to be read after the client resumed`, 5000);
  });
});
