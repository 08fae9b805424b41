/** ACLs apply to a bridge as to a local client: `client $bridge/<name>` rules decide what it may publish locally (in) and read (out). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';

const dir = mkdtempSync(path.join(tmpdir(), 'midge-bridge-acl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const opened: TestBroker[] = [];
afterEach(async () => {
  for (const b of opened.splice(0).reverse()) await b.close();
});

describe('MQTT bridge under an ACL file', () => {
  it('publishes from the remote only what its client section allows, and forwards only what it may read', async () => {
    const acl = path.join(dir, 'acl');
    writeFileSync(acl, ['user app', 'topic readwrite #', 'client $bridge/cloud', 'topic write cmd/allowed/#', 'topic read up/allowed/#'].join('\n'));
    const remote = await startBroker();
    opened.push(remote);
    const local = await startBroker({
      aclFile: acl,
      allowAnonymous: true,
      bridges: [
        {
          name: 'cloud',
          url: remote.url,
          protocolVersion: 5,
          reconnectDelay: 50,
          topics: [
            { filter: 'cmd/#', direction: 'in', qos: 1 },
            { filter: 'up/#', direction: 'out', qos: 1 },
          ],
        },
      ],
    });
    opened.push(local);
    await until(() => local.broker.mqttBridges.status()[0]?.state === 'connected', 'bridge connected');
    await sleep(200);
    const app = await local.client({ username: 'app', protocolVersion: 5 });
    const atLocal: string[] = [];
    app.on('message', (t) => atLocal.push(t));
    await app.subscribeAsync('cmd/#', { qos: 1 });
    const cloud = await remote.client();
    const atRemote: string[] = [];
    cloud.on('message', (t) => atRemote.push(t));
    await cloud.subscribeAsync('up/#', { qos: 1 });
    await cloud.publishAsync('cmd/allowed/a', '1', { qos: 1 });
    await cloud.publishAsync('cmd/denied/a', '1', { qos: 1 });
    await app.publishAsync('up/allowed/b', '1', { qos: 1 });
    await app.publishAsync('up/denied/b', '1', { qos: 1 });
    await until(() => atLocal.length >= 1 && atRemote.length >= 1, 'the allowed messages');
    await sleep(300);
    expect(atLocal).toEqual(['cmd/allowed/a']);
    expect(atRemote).toEqual(['up/allowed/b']);
    expect(local.broker.stats.dropped['not-authorized']).toBe(2); // one refused publish, one refused read
  });
});

describe('the bridge subscribes locally through authorizeSubscribe', () => {
  it('as its localUsername: a filter the ACL refuses is not subscribed (logged, counted), the others are', async () => {
    const acl = path.join(dir, 'acl-local-user');
    writeFileSync(acl, ['user app', 'topic readwrite #', 'user edge', 'topic read up/#'].join('\n'));
    const remote = await startBroker();
    opened.push(remote);
    const topics = [
      { filter: 'up/#', direction: 'out' as const, qos: 1 as const },
      { filter: 'secret/#', direction: 'out' as const, qos: 1 as const },
    ];
    const local = await startBroker({ aclFile: acl, allowAnonymous: true, bridges: [{ name: 'cloud', url: remote.url, localUsername: 'edge', reconnectDelay: 50, topics }] });
    opened.push(local);
    await until(() => local.broker.mqttBridges.status()[0]?.state === 'connected', 'bridge connected');
    expect(local.broker.mqttBridges.status()[0]?.refusedSubscriptions).toBe(1);
    expect(local.broker.admin.subscriptions({ clientId: '$bridge/cloud' }).map((s) => s.filter)).toEqual(['up/#']);
    const cloud = await remote.client();
    const atRemote: string[] = [];
    cloud.on('message', (t) => atRemote.push(t));
    await cloud.subscribeAsync('#', { qos: 1 });
    const app = await local.client({ username: 'app' });
    await app.publishAsync('secret/a', '1', { qos: 1 });
    await app.publishAsync('up/a', '1', { qos: 1 });
    await until(() => atRemote.length >= 1, 'the allowed message');
    await sleep(300);
    expect(atRemote).toEqual(['up/a']);
  });

  it('without localUsername the bridge is an anonymous client $bridge/<name>: a user-only ACL refuses every filter', async () => {
    const acl = path.join(dir, 'acl-users-only');
    writeFileSync(acl, ['user edge', 'topic read up/#'].join('\n'));
    const remote = await startBroker();
    opened.push(remote);
    const local = await startBroker({ aclFile: acl, allowAnonymous: true, bridges: [{ name: 'cloud', url: remote.url, reconnectDelay: 50, topics: [{ filter: 'up/#', qos: 1 }] }] });
    opened.push(local);
    await until(() => local.broker.mqttBridges.status()[0]?.state === 'connected', 'bridge connected');
    expect(local.broker.mqttBridges.status()[0]?.refusedSubscriptions).toBe(1);
    expect(local.broker.admin.subscriptions({ clientId: '$bridge/cloud' })).toEqual([]);
  });
});
