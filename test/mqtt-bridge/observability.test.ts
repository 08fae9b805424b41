/**
 * A bridge's state, backlog, counters and drops in /metrics, /status.json and $SYS, and its log
 * lines, while the remote is unreachable and once it comes up.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, until, type TestBroker } from '../helpers/broker.js';
import { freePort } from '../helpers/engines.js';

const opened: TestBroker[] = [];
afterEach(async () => {
  for (const b of opened.splice(0).reverse()) await b.close();
});

describe('MQTT bridge observability', () => {
  it('reports a down link, its backlog and drops, then the link back up', { timeout: 30_000 }, async () => {
    const port = await freePort(); // nothing listens there yet
    const lines: { msg: string; bridge?: string; reason?: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as { msg: string });
        done();
      },
    });
    const local = await startBroker({
      httpPort: 0,
      sysInterval: 1,
      logger: pino({ level: 'info' }, sink),
      bridges: [{ name: 'cloud', url: `mqtt://127.0.0.1:${port}`, reconnectDelay: 50, reconnectDelayMax: 200, topics: [{ filter: 'up/#', qos: 1 }] }],
    });
    opened.push(local);
    const http = `http://127.0.0.1:${local.broker.addresses().http?.port}`;
    await until(() => lines.some((l) => l.msg === 'mqtt bridge down'), 'a log line for the down link');
    const pub = await local.client();
    await pub.publishAsync('up/a', 'queued', { qos: 1 });
    await pub.publishAsync('up/b', 'lost', { qos: 0 });

    const status = (await (await fetch(`${http}/status.json`)).json()) as { mqttBridges: Record<string, unknown>[] };
    expect(status.mqttBridges[0]).toMatchObject({ name: 'cloud', state: expect.stringMatching(/down|connecting/), backlog: { messages: 1, bytes: 6 }, dropped: 1, droppedByReason: { offline: 1 } });
    const metrics = await (await fetch(`${http}/metrics`)).text();
    expect(metrics).toContain('midge_mqtt_bridge_up{bridge="cloud"} 0');
    expect(metrics).toContain('midge_mqtt_bridge_backlog_messages{bridge="cloud"} 1');
    expect(metrics).toContain('midge_mqtt_bridge_dropped_total{bridge="cloud",reason="offline"} 1');

    const sys = await local.client();
    const values = new Map<string, string>();
    sys.on('message', (topic, payload) => values.set(topic, payload.toString()));
    await sys.subscribeAsync(['$SYS/broker/connection/#', '$SYS/broker/bridges/#']);
    // The retained values may predate the publishes: the next publication (every second) has them
    await until(() => values.get('$SYS/broker/bridges/cloud/backlog/messages') === '1', '$SYS bridge backlog');
    expect(values.get('$SYS/broker/connection/cloud/state')).toBe('0');
    expect(values.get('$SYS/broker/bridges/cloud/messages/dropped')).toBe('1');
    expect(values.get('$SYS/broker/bridges/cloud/state')).toMatch(/^(down: .*|connecting)$/);

    // The remote comes up on that port: the link connects and the backlog drains
    const remote = await startBroker({ port });
    opened.push(remote);
    const atRemote = await remote.client();
    const got: string[] = [];
    atRemote.on('message', (_t, p) => got.push(p.toString()));
    await atRemote.subscribeAsync('up/#', { qos: 1 });
    await until(() => got.length === 1, 'the backlog at the remote', 10_000);
    expect(got).toEqual(['queued']);
    expect(lines.some((l) => l.msg === 'mqtt bridge connected')).toBe(true);
    await until(() => values.get('$SYS/broker/connection/cloud/state') === '1', '$SYS connection state 1', 5000);
    const after = await (await fetch(`${http}/metrics`)).text();
    expect(after).toContain('midge_mqtt_bridge_up{bridge="cloud"} 1');
    expect(after).toContain('midge_mqtt_bridge_forwarded_total{bridge="cloud",direction="out"} 1');
    expect(after).toContain('midge_mqtt_bridge_backlog_messages{bridge="cloud"} 0');
    // Published as soon as the link changes, as Mosquitto does, not only every sysInterval
    const changes: string[] = [];
    sys.on('message', (topic, payload) => {
      if (topic === '$SYS/broker/connection/cloud/state') changes.push(payload.toString());
    });
    opened.splice(opened.indexOf(remote), 1);
    await remote.close();
    await until(() => changes.includes('0'), 'state 0 on the link going down', 900);
  });
});
