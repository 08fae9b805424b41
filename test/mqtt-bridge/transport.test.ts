/** BridgeStream: the bridge link's stream between mqtt.js and the socket (frames taken out, bridge bit set). */
import { Duplex } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { BridgeStream } from '../../src/mqtt-bridge/transport.js';

/** A socket stand-in: records what is written, and `feed` makes bytes arrive. */
class FakeSocket extends Duplex {
  readonly written: Buffer[] = [];
  override _write(chunk: Buffer, _e: BufferEncoding, done: () => void): void {
    this.written.push(chunk);
    done();
  }
  override _read(): void {}
  feed(bytes: Buffer): void {
    this.emit('data', bytes);
  }
}

function setup(bridgeBit = false, max = 1 << 20): { socket: FakeSocket; stream: BridgeStream; tapped: Buffer[]; passed: Buffer[] } {
  const socket = new FakeSocket();
  const tapped: Buffer[] = [];
  const passed: Buffer[] = [];
  const stream = new BridgeStream(socket, (frame) => tapped.push(Buffer.from(frame)), bridgeBit, max);
  stream.on('data', (d: Buffer) => passed.push(Buffer.from(d)));
  stream.on('error', () => {});
  return { socket, stream, tapped, passed };
}

const gen = (packet: object, protocolVersion = 4) => mqttPacket.generate(packet as mqttPacket.Packet, { protocolVersion });

describe('BridgeStream', () => {
  it('takes the message flow (PUBLISH to PUBCOMP) out, runs of whole packets at a time, passes every other packet to mqtt.js, whole and in order, across any chunking', async () => {
    const connack = gen({ cmd: 'connack', returnCode: 0, sessionPresent: false });
    const publish = gen({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(300, 1), qos: 1, messageId: 7, retain: false, dup: false });
    const puback = gen({ cmd: 'puback', messageId: 3 });
    const pubrel = gen({ cmd: 'pubrel', messageId: 9 });
    const suback = gen({ cmd: 'suback', messageId: 1, granted: [1] });
    const pingresp = gen({ cmd: 'pingresp' });
    const all = Buffer.concat([connack, publish, puback, pubrel, suback, pingresp]);
    for (const size of [1, 2, 3, 7, 64, all.length]) {
      const { socket, tapped, passed } = setup();
      for (let i = 0; i < all.length; i += size) socket.feed(all.subarray(i, i + size));
      await new Promise((r) => setImmediate(r));
      // Whole packets only, a run of consecutive ones at most per piece
      expect(Buffer.concat(tapped)).toEqual(Buffer.concat([publish, puback, pubrel]));
      const boundaries = [publish.length, publish.length + puback.length, publish.length + puback.length + pubrel.length];
      let offset = 0;
      for (const piece of tapped) expect(boundaries).toContain((offset += piece.length));
      if (size === all.length) expect(tapped).toHaveLength(1);
      expect(Buffer.concat(passed)).toEqual(Buffer.concat([connack, suback, pingresp]));
    }
  });

  it('sets the bridge bit (protocol level 0x84) in the CONNECT, however mqtt.js splits its writes, and nothing else', async () => {
    const connect = gen({ cmd: 'connect', clientId: 'c', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 });
    const long = gen({ cmd: 'connect', clientId: 'x'.repeat(200), protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 });
    for (const packet of [connect, long]) {
      for (const size of [1, 3, packet.length]) {
        const { socket, stream } = setup(true);
        for (let i = 0; i < packet.length; i += size) stream.write(packet.subarray(i, i + size));
        stream.write(gen({ cmd: 'pingreq' }));
        await new Promise((r) => setImmediate(r));
        const sent = Buffer.concat(socket.written);
        const level = packet.indexOf(Buffer.from('MQTT')) + 4;
        expect(sent[level]).toBe(0x84);
        expect(Buffer.concat([sent.subarray(0, level), sent.subarray(level + 1)])).toEqual(Buffer.concat([packet.subarray(0, level), packet.subarray(level + 1), gen({ cmd: 'pingreq' })]));
      }
    }
    const { socket, stream } = setup(false);
    stream.write(connect);
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(socket.written)).toEqual(connect);
  });

  it('ends the connection on a malformed Remaining Length or a packet above the limit', async () => {
    const malformed = setup();
    const closed = new Promise((r) => malformed.stream.once('close', r));
    malformed.socket.feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
    await closed;
    expect(malformed.stream.destroyed).toBe(true);
    const large = setup(false, 100);
    large.socket.feed(gen({ cmd: 'publish', topic: 't', payload: Buffer.alloc(500), qos: 0, retain: false, dup: false }).subarray(0, 200));
    await new Promise((r) => setImmediate(r));
    expect(large.stream.destroyed).toBe(true);
    expect(large.tapped).toEqual([]);
  });

  it("writes the bridge's own packets behind what mqtt.js wrote: straight to the socket when nothing waits, in order when mqtt.js's writes are corked or buffered", async () => {
    const { socket, stream } = setup(true);
    const connect = gen({ cmd: 'connect', clientId: 'c', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60 });
    const [a, b, c, d] = [1, 2, 3, 4].map((id) => gen({ cmd: 'puback', messageId: id })) as Buffer[];
    stream.send(connect); // the CONNECT goes through the stream: it gets the bridge bit
    stream.send(a as Buffer);
    stream.cork();
    stream.write(b);
    stream.send(c as Buffer); // behind b, although the socket could take it now
    stream.uncork();
    stream.send(d as Buffer);
    await new Promise((r) => setImmediate(r));
    const sent = Buffer.concat(socket.written);
    expect(sent[connect.indexOf(Buffer.from('MQTT')) + 4]).toBe(0x84);
    expect(sent.subarray(connect.length)).toEqual(Buffer.concat([a, b, c, d] as Buffer[]));
  });
});
