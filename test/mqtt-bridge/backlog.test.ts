/** The outbound backlog's bound by bytes: drop-oldest counts every drop; block withholds local publishers' acknowledgements. */
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';
import { freePort } from '../helpers/engines.js';

const opened: TestBroker[] = [];
afterEach(async () => {
  for (const b of opened.splice(0).reverse()) await b.close();
});

async function edge(port: number, overflow: 'drop-oldest' | 'block', maxBacklogBytes: number): Promise<TestBroker> {
  const b = await startBroker({
    bridges: [{ name: 'cloud', url: `mqtt://127.0.0.1:${port}`, reconnectDelay: 50, reconnectDelayMax: 100, maxBacklogBytes, overflow, topics: [{ filter: 'up/#', qos: 1 }] }],
  });
  opened.push(b);
  return b;
}

async function cloud(port: number): Promise<{ got: string[] }> {
  const remote = await startBroker({ port });
  opened.push(remote);
  const sub = await remote.client({ clientId: 'collector', clean: false });
  const got: string[] = [];
  sub.on('message', (_t, p) => got.push(p.toString()));
  await sub.subscribeAsync('up/#', { qos: 1 });
  return { got };
}

const payload = (i: number) => `message-${String(i).padStart(2, '0')}`; // 10 bytes

describe('outbound backlog bound', () => {
  it('drop-oldest keeps the newest messages within maxBacklogBytes and counts each drop', async () => {
    const port = await freePort();
    const local = await edge(port, 'drop-oldest', 100);
    const pub = await local.client();
    for (let i = 0; i < 25; i++) await pub.publishAsync('up/x', payload(i), { qos: 1 });
    const status = local.broker.mqttBridges.status()[0];
    expect(status).toMatchObject({ backlogMessages: 10, backlogBytes: 100, dropped: { 'queue-full': 15 } });
    const { got } = await cloud(port);
    await until(() => got.length === 10, 'the backlog at the remote', 10_000);
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => payload(i + 15)));
  });

  it('block withholds the publisher acknowledgement while the backlog is full, and sends it once there is room', async () => {
    const port = await freePort();
    const local = await edge(port, 'block', 30);
    const pub = await local.client();
    for (let i = 0; i < 3; i++) await pub.publishAsync('up/x', payload(i), { qos: 1 });
    let acked = false;
    const fourth = pub.publishAsync('up/x', payload(3), { qos: 1 }).then(() => (acked = true));
    await sleep(300);
    expect(acked).toBe(false); // held: the backlog is at its bound
    expect(local.broker.mqttBridges.status()[0]).toMatchObject({ blocked: 1, backlogMessages: 4, dropped: {} });
    // Another publisher on a topic that is not bridged is not held
    const neighbour = await local.client();
    expect(await neighbour.publishAsync('elsewhere', 'not bridged', { qos: 1 })).toBeDefined();
    // The same publisher's later acknowledgements wait behind the held one: PUBACKs keep their order [MQTT-4.6.0-2]
    let laterAcked = false;
    const later = pub.publishAsync('elsewhere', 'after the fourth', { qos: 1 }).then(() => (laterAcked = true));
    await sleep(200);
    expect(laterAcked).toBe(false);
    const { got } = await cloud(port);
    await fourth;
    await later;
    await until(() => got.length === 4, 'all four at the remote', 10_000);
    expect(got).toEqual([0, 1, 2, 3].map(payload));
  });
});
