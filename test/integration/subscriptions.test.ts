import type { MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, sleep, startBroker, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

let t: TestBroker;
afterEach(async () => t?.close());

const LEVELS = [4, 5] as const;

/**
 * Subscribes a fresh client to `filter` (and to a marker topic), publishes every topic in `topics`
 * at QoS 1 and then the marker; returns the topics received before the marker.
 */
async function matched(protocolVersion: 4 | 5, filter: string, topics: string[]): Promise<string[]> {
  const sub = await t.client({ protocolVersion });
  const got = collect(sub);
  await sub.subscribeAsync({ [filter]: { qos: 1 }, 'zz/marker': { qos: 1 } });
  const pub = await t.client({ protocolVersion });
  for (const topic of topics) {
    // Only the broker writes $SYS (a client's PUBLISH there is refused), so it publishes those itself
    if (topic.startsWith('$SYS/')) await t.broker.publish({ topic, payload: topic, qos: 1 });
    else await pub.publishAsync(topic, topic, { qos: 1 });
  }
  await pub.publishAsync('zz/marker', 'end', { qos: 1 });
  const deadline = Date.now() + 3000;
  while (!got.messages.some((m) => m.topic === 'zz/marker')) {
    if (Date.now() > deadline) throw new Error('the marker message did not arrive');
    await sleep(5);
  }
  await sub.endAsync();
  return got.messages.map((m) => m.topic).filter((topic) => topic !== 'zz/marker');
}

describe.each(LEVELS)('wildcards (level %i)', (protocolVersion) => {
  it("[MQTT-4.7.1-3] '+' matches exactly one level", async () => {
    t = await startBroker();
    const got = await matched(protocolVersion, 'a/+/c', ['a/b/c', 'a/x/c', 'a/b/d/c', 'a/c', 'a//c', 'b/b/c']);
    expect(got).toEqual(['a/b/c', 'a/x/c', 'a//c']);
  });

  it("[MQTT-4.7.1-2] '#' matches any number of levels, including the parent: 'a/#' matches 'a'", async () => {
    t = await startBroker();
    const got = await matched(protocolVersion, 'a/#', ['a', 'a/b', 'a/b/c', 'ab', 'b/a']);
    expect(got).toEqual(['a', 'a/b', 'a/b/c']);
  });

  it("'#' alone matches every topic that does not start with '$'", async () => {
    t = await startBroker();
    const got = await matched(protocolVersion, '#', ['a', '/a', 'a/b/c', '$SYS/x']);
    expect(got).toEqual(['a', '/a', 'a/b/c']);
  });

  it("'+/+' and '/+' treat an empty leading level as a level", async () => {
    t = await startBroker();
    expect(await matched(protocolVersion, '+/+', ['/finance', 'a/b', 'a'])).toEqual(['/finance', 'a/b']);
  });

  it("[MQTT-4.7.2-1] '$SYS/x' and '$foo/bar' are not matched by '#' or '+/bar'", async () => {
    t = await startBroker();
    expect(await matched(protocolVersion, '#', ['$SYS/x', '$foo/bar', 'foo/bar'])).toEqual(['foo/bar']);
    expect(await matched(protocolVersion, '+/bar', ['$SYS/bar', '$foo/bar', 'foo/bar'])).toEqual(['foo/bar']);
    expect(await matched(protocolVersion, '+/#', ['$foo/bar', 'foo/bar'])).toEqual(['foo/bar']);
  });

  it("[MQTT-4.7.2-1] '$foo/#' and '$SYS/+' do match topics starting with '$'", async () => {
    t = await startBroker();
    expect(await matched(protocolVersion, '$foo/#', ['$foo/bar', '$foo', '$foo/a/b', '$SYS/x'])).toEqual(['$foo/bar', '$foo', '$foo/a/b']);
    expect(await matched(protocolVersion, '$SYS/+', ['$SYS/x', '$SYS/x/y'])).toEqual(['$SYS/x']);
    expect(await matched(protocolVersion, '$foo/+/c', ['$foo/b/c'])).toEqual(['$foo/b/c']);
  });

  it('topic matching is case sensitive and exact', async () => {
    t = await startBroker();
    expect(await matched(protocolVersion, 'ACCOUNTS', ['ACCOUNTS', 'Accounts', 'accounts', 'ACCOUNTS/x'])).toEqual(['ACCOUNTS']);
  });

  it('[MQTT-3.10.4-1] after UNSUBSCRIBE nothing more is delivered for that filter', async () => {
    t = await startBroker();
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync({ 'u/a': { qos: 1 }, 'u/b': { qos: 1 } });
    const pub = await t.client({ protocolVersion });
    await pub.publishAsync('u/a', '1', { qos: 1 });
    await got.waitFor(1);
    await sub.unsubscribeAsync('u/a');
    await pub.publishAsync('u/a', '2', { qos: 1 });
    await pub.publishAsync('u/b', '3', { qos: 1 });
    await got.waitFor(2);
    await sleep(100);
    expect(got.messages.map((m) => `${m.topic}:${m.payload}`)).toEqual(['u/a:1', 'u/b:3']);
  });

  it('[MQTT-4.7.1-1] an invalid filter is refused in SUBACK and the valid ones in the same packet are granted', async () => {
    t = await startBroker();
    // mqtt.js refuses to send an invalid filter, so this one goes out as a raw frame
    const r = await Wire.open(t.port, protocolVersion);
    try {
      await r.handshake();
      const subscriptions = [
        { topic: 'a/#/b', qos: 1 },
        { topic: 'ok/+', qos: 1 },
        { topic: 'x+/y', qos: 1 },
      ];
      r.send({ cmd: 'subscribe', messageId: 3, subscriptions } as Packet);
      const refused = protocolVersion === 5 ? 0x8f : 0x80;
      expect(await r.next('suback')).toMatchObject({ messageId: 3, granted: [refused, 1, refused] });
    } finally {
      r.close();
    }
  });
});

describe.each(LEVELS)('shared subscriptions (level %i)', (protocolVersion) => {
  async function members(count: number): Promise<{ clients: MqttClient[]; got: ReturnType<typeof collect>[] }> {
    const clients: MqttClient[] = [];
    const got: ReturnType<typeof collect>[] = [];
    for (let i = 0; i < count; i++) {
      const c = await t.client({ protocolVersion, clientId: `member-${i}` });
      got.push(collect(c));
      await c.subscribeAsync('$share/g/jobs/+', { qos: 1 });
      clients.push(c);
    }
    return { clients, got };
  }

  it("'$share/g/topic': each message goes to exactly one member, round-robin", async () => {
    t = await startBroker();
    const { got } = await members(2);
    const plain = await t.client({ protocolVersion });
    const all = collect(plain);
    await plain.subscribeAsync('jobs/+', { qos: 1 });
    const pub = await t.client({ protocolVersion });
    for (let i = 0; i < 10; i++) await pub.publishAsync('jobs/x', `job${i}`, { qos: 1 });
    await all.waitFor(10);
    await Promise.all(got.map((g) => g.waitFor(5)));
    await sleep(100);
    const [a, b] = got.map((g) => g.messages.map((m) => m.payload)) as [string[], string[]];
    expect(a).toHaveLength(5);
    expect(b).toHaveLength(5);
    expect([...a, ...b].sort()).toEqual(all.messages.map((m) => m.payload).sort());
    // round-robin: consecutive messages alternate between the members
    const owner = (i: number) => (a.includes(`job${i}`) ? 'a' : 'b');
    for (let i = 1; i < 10; i++) expect(owner(i)).not.toBe(owner(i - 1));
    // the group's filter is the part after '$share/g/'
    expect(got[0]?.messages[0]?.topic).toBe('jobs/x');
  });

  it('a message to a shared group is not lost when a member leaves', async () => {
    t = await startBroker();
    const { clients, got } = await members(2);
    await clients[0]?.endAsync();
    const pub = await t.client({ protocolVersion });
    for (let i = 0; i < 4; i++) await pub.publishAsync('jobs/y', `job${i}`, { qos: 1 });
    await got[1]?.waitFor(4);
    expect(got[1]?.messages.map((m) => m.payload)).toEqual(['job0', 'job1', 'job2', 'job3']);
  });

  it('[MQTT-4.8.2-1] a malformed shared filter is refused', async () => {
    t = await startBroker();
    const c = await t.client({ protocolVersion });
    const err = (await c.subscribeAsync('$share/g', { qos: 0 }).catch((e: unknown) => e)) as { packet?: { granted: number[] } };
    expect(err.packet?.granted[0]).toBeGreaterThanOrEqual(0x80);
  });
});
