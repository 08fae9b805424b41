import net from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, until } from '../helpers/broker.js';
import { openFileLimit, startBrokerProcess, type BrokerProcess } from './process.js';

let broker: BrokerProcess | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await broker?.stop();
  broker = undefined;
});

function open(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    sockets.push(s);
    s.on('error', () => undefined);
    s.once('connect', () => resolve(s)).once('error', reject);
  });
}

const IDLE = 5000;
const enoughFiles = openFileLimit() >= 2 * IDLE + 500;
if (!enoughFiles) console.warn(`abuse: the open-file limit ${openFileLimit()} is below ${2 * IDLE + 500}; the idle-socket test is skipped`);

describe('abuse', () => {
  it.skipIf(!enoughFiles)(`${IDLE} sockets that never send CONNECT: bounded memory, other clients served, all closed by connectTimeout`, async () => {
    broker = await startBrokerProcess(['--connect-timeout', '6000']);
    const before = broker.rssMb();
    let closedByBroker = 0;
    const openIdle = async () => (await open(broker?.port ?? 0)).once('close', () => closedByBroker++);
    const started = Date.now();
    for (let i = 0; i < IDLE; i += 250) await Promise.all(Array.from({ length: 250 }, openIdle));
    console.log(`abuse: ${IDLE} sockets opened in ${Date.now() - started} ms`);
    await sleep(200);
    const grown = broker.rssMb() - before;
    console.log(`abuse: ${IDLE} idle sockets: broker RSS ${before.toFixed(1)} MiB -> +${grown.toFixed(1)} MiB (${((grown * 1024) / IDLE).toFixed(1)} KiB each)`);
    expect(grown).toBeLessThan(120); // about 10 KiB per socket at most
    expect(await broker.healthy()).toBe(true);
    await until(() => closedByBroker === IDLE, `the broker closed all ${IDLE} sockets`, 20_000);
    expect(await broker.healthy()).toBe(true);
  }, 45_000);

  it('a 256 MiB Remaining Length trickled slowly is refused from its header, before CONNECT and after', async () => {
    broker = await startBrokerProcess([]);
    const before = broker.rssMb();
    const header = Buffer.from([0xff, 0xff, 0xff, 0x7f]); // 268,435,455 bytes
    const trickle = async (prefix: Buffer, type: number) => {
      const s = await open(broker?.port ?? 0);
      let closed = false;
      s.once('close', () => (closed = true));
      s.write(prefix);
      s.write(Buffer.from([type]));
      for (const b of header) {
        s.write(Buffer.from([b]));
        await sleep(20);
      }
      // then the body, slowly: 1 KiB every 20 ms, until the broker hangs up (at most 2 s)
      for (let i = 0; i < 100 && !closed; i++) {
        s.write(Buffer.alloc(1024, 0x61));
        await sleep(20);
      }
      return closed;
    };
    const connect = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'trickle', clean: true, keepalive: 0 } as Packet);
    const results = await Promise.all([
      ...Array.from({ length: 10 }, () => trickle(Buffer.alloc(0), 0x10)), // a CONNECT announced as 256 MiB
      ...Array.from({ length: 10 }, () => trickle(connect, 0x30)), // a PUBLISH announced as 256 MiB
    ]);
    expect(results.every(Boolean)).toBe(true);
    const grown = broker.rssMb() - before;
    console.log(`abuse: 20 trickled 256 MiB packets: broker RSS +${grown.toFixed(1)} MiB`);
    expect(grown).toBeLessThan(30);
    expect(await broker.healthy()).toBe(true);
  }, 20_000);

  it('a client subscribing to 50k filters: the first maxSubscriptionsPerClient are granted, the rest get 0x97; memory bounded', async () => {
    broker = await startBrokerProcess([]);
    const before = broker.rssMb();
    const s = await open(broker.port);
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const codes: number[] = [];
    let acks = 0;
    parser.on('packet', (p: Packet) => {
      if (p.cmd !== 'suback') return;
      acks++;
      codes.push(...(p.granted as number[]));
    });
    s.on('data', (d: Buffer) => parser.parse(d));
    const frame = (p: Packet) => mqttPacket.generate(p, { protocolVersion: 5 });
    s.write(frame({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'many-filters', clean: true, keepalive: 0 } as Packet));
    const perPacket = 500;
    for (let p = 0; p < 100; p++) {
      const subscriptions = Array.from({ length: perPacket }, (_, i) => ({ topic: `f/${p}/${i}/+/#`, qos: 1 as const }));
      s.write(frame({ cmd: 'subscribe', messageId: p + 1, subscriptions } as Packet));
      if (p % 10 === 9) await until(() => acks === p + 1, `SUBACK ${p + 1}`, 10_000);
    }
    await until(() => acks === 100, 'all SUBACKs', 10_000);
    expect(codes.filter((c) => c === 1)).toHaveLength(10_000);
    expect(codes.filter((c) => c === 0x97)).toHaveLength(40_000);
    const grown = broker.rssMb() - before;
    console.log(`abuse: 50k filters requested, 10k held: broker RSS +${grown.toFixed(1)} MiB`);
    expect(grown).toBeLessThan(150);
    expect(await broker.healthy()).toBe(true);
  }, 30_000);
});
