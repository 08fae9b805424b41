/**
 * Remote → local: a message from the remote is acknowledged to it only once it is committed
 * locally; a failed commit sends no acknowledgement, so the remote sends the message again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { GatedStore } from '../helpers/gated-store.js';
import { sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';

const opened: TestBroker[] = [];
const stores: GatedStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) {
    s.gated = false;
    s.release();
  }
  for (const b of opened.splice(0).reverse()) await b.close();
});

async function pair(protocolVersion: 4 | 5): Promise<{ remote: TestBroker; local: TestBroker; store: GatedStore }> {
  const remote = await startBroker();
  opened.push(remote);
  const store = new GatedStore();
  store.gated = false;
  stores.push(store);
  const local = await startBroker({
    store,
    bridges: [{ name: 'cloud', url: remote.url, clientId: 'edge-1', protocolVersion, reconnectDelay: 50, reconnectDelayMax: 200, topics: [{ filter: 'cmd/#', direction: 'in', qos: 2 }] }],
  });
  opened.push(local);
  await until(() => remote.broker.session('edge-1')?.subscriptions === 1, 'the bridge subscribed on the remote');
  return { remote, local, store };
}

describe.each([4, 5] as const)('inbound acknowledgement after the local commit (MQTT %s)', (protocolVersion) => {
  it.each([1, 2] as const)('QoS %s: PUBACK/PUBREC reaches the remote only after the commit', async (qos) => {
    const { remote, local, store } = await pair(protocolVersion);
    const sub = await local.client();
    const got: string[] = [];
    sub.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`));
    await sub.subscribeAsync('cmd/#', { qos: 0 });
    store.gated = true;
    const pub = await remote.client();
    const acked = pub.publishAsync('cmd/valve', 'open', { qos });
    await until(() => got.length === 1 && store.pending > 0, 'routed locally, commit pending');
    await sleep(200);
    expect(remote.broker.session('edge-1')?.inflight).toBe(1); // not acknowledged while the commit waits
    // QoS 2: PUBREC after this commit, then PUBCOMP after the commit of the release
    await until(() => {
      store.release();
      return remote.broker.session('edge-1')?.inflight === 0;
    }, 'acknowledged after the commit');
    store.gated = false;
    store.release();
    await acked;
    expect(got).toEqual(['cmd/valve=open']);
    expect(local.broker.mqttBridges.status()[0]?.forwardedIn).toBe(1);
  });

  it('a failed commit is not acknowledged: the remote sends the message again', async () => {
    const { remote, local, store } = await pair(protocolVersion);
    const sub = await local.client();
    const got: string[] = [];
    sub.on('message', (_topic, payload) => got.push(payload.toString()));
    await sub.subscribeAsync('cmd/#', { qos: 0 });
    store.gated = true;
    const pub = await remote.client();
    await pub.publishAsync('cmd/valve', 'close', { qos: 1 });
    await until(() => store.pending > 0, 'commit pending');
    store.gated = false;
    store.fail(); // disk full: the bridge closes the link without acknowledging
    await until(() => local.broker.mqttBridges.status()[0]?.connects === 2, 'the bridge reconnected');
    await until(() => got.length === 2, 'the remote sent it again');
    await until(() => remote.broker.session('edge-1')?.inflight === 0, 'acknowledged the second time');
    expect(got).toEqual(['close', 'close']);
  });
});

describe('inbound QoS 2 behind an asynchronous authorizePublish', () => {
  it('a resend that arrives while the first copy is being checked is not published twice [MQTT-4.3.3-9]', async () => {
    const remote = await startBroker();
    opened.push(remote);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let checks = 0;
    const slowAcl = {
      name: 'slow-acl',
      async authorizePublish(): Promise<boolean> {
        checks++;
        await gate;
        return true;
      },
    };
    const local = await startBroker({
      plugins: [slowAcl],
      bridges: [{ name: 'cloud', url: remote.url, clientId: 'edge-1', protocolVersion: 5, reconnectDelay: 50, reconnectDelayMax: 200, topics: [{ filter: 'cmd/#', direction: 'in', qos: 2 }] }],
    });
    opened.push(local);
    await until(() => remote.broker.session('edge-1')?.subscriptions === 1, 'the bridge subscribed on the remote');
    const sub = await local.client();
    const got: string[] = [];
    sub.on('message', (_topic, payload) => got.push(payload.toString()));
    await sub.subscribeAsync('cmd/#', { qos: 2 });
    const pub = await remote.client();
    void pub.publishAsync('cmd/valve', 'open', { qos: 2 });
    await until(() => checks === 1, 'the first copy waits for its check');
    // The link drops while the check runs; the remote sends the PUBLISH again (DUP=1) once it is back
    expect(remote.broker.admin.kick('edge-1')).toBe(true);
    await until(() => local.broker.mqttBridges.status()[0]?.connects === 2, 'the bridge reconnected');
    await sleep(300);
    open();
    await until(() => remote.broker.session('edge-1')?.inflight === 0, 'the QoS 2 exchange completed');
    await sleep(300);
    expect(got).toEqual(['open']);
    expect(local.broker.mqttBridges.status()[0]?.forwardedIn).toBe(1);
  });
});
