/**
 * Remote → local across kill -9: Midge acknowledges a message to the remote only once it is
 * committed, so messages Mosquitto forwards while Midge is killed are all delivered after the restart.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, connected, Lab, until } from '../crash/helpers.js';
import { Mosquitto, MOSQUITTO } from './mosquitto.js';

if (MOSQUITTO === undefined) console.warn('SKIPPED: MQTT bridge inbound crash test: mosquitto is not installed (apt-get install mosquitto)');

const lab = new Lab();
const remotes: Mosquitto[] = [];
afterEach(async () => {
  await lab.cleanup();
  for (const m of remotes.splice(0)) await m.destroy();
});
beforeAll(() => assertBuilt());

describe.skipIf(MOSQUITTO === undefined)('MQTT bridge inbound across kill -9', () => {
  it('every QoS 1 message the remote sent reaches a local persistent subscriber', { timeout: 120_000 }, async () => {
    const remote = await Mosquitto.start('max_queued_messages 0');
    remotes.push(remote);
    const dataDir = lab.dataDir();
    const file = path.join(path.dirname(dataDir), 'midge.json');
    const bridge = { name: 'cloud', url: remote.url, clientId: 'edge-1', reconnectDelay: 100, reconnectDelayMax: 300, topics: [{ filter: 'cmd/#', direction: 'in', qos: 1 }] };
    writeFileSync(file, JSON.stringify({ bridges: [bridge] }));
    // The local subscriber is offline throughout: its queue must hold them all
    const midge = await lab.start(dataDir, { extra: ['--config', file, '--max-queued-messages', '10000'] });
    const app = await lab.connectMqtt(midge.port, { clientId: 'app', clean: false });
    await app.subscribeAsync('cmd/#', { qos: 1 });
    await app.endAsync();
    await until(() => midge.logs().some((l) => l.msg === 'mqtt bridge connected'), 'the bridge connected', 10_000);
    await new Promise((r) => setTimeout(r, 300)); // its subscription on the remote

    const pub = await lab.connectMqtt(remote.port);
    const total = 3000;
    let killed: Promise<unknown> | undefined;
    for (let from = 0; from < total; from += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => pub.publishAsync('cmd/x', String(from + i), { qos: 1 })));
      if (from === 1000) killed = lab.crashAndRestart(midge); // while Mosquitto forwards to it
    }
    const restarted = (await killed) as Awaited<ReturnType<Lab['restart']>>;
    await until(() => restarted.logs().some((l) => l.msg === 'mqtt bridge connected'), 'the bridge reconnected', 20_000);

    const back = lab.mqtt(restarted.port, { clientId: 'app', clean: false });
    const seen = new Set<number>();
    back.on('message', (_t, payload) => seen.add(Number(payload.toString())));
    await connected(back);
    await until(() => seen.size === total, `all ${total} messages`, 60_000);
    expect(lab.brokerErrors()).toEqual([]);
  });
});
