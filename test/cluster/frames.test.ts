import { describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { hasNats, until, useNats } from '../helpers/cluster.js';

const env = useNats('QoS 0 frame tests');

function payloads(client: MqttClient, topic: string): string[] {
  const got: string[] = [];
  client.on('message', (t, payload) => t === topic && got.push(payload.toString()));
  return got;
}

/** NATS messages per live subject of cluster `prefix`, counted by a plain NATS subscriber. */
async function natsMessages(prefix: string): Promise<{ counts: Map<string, number>; close: () => Promise<void> }> {
  const nc = await env.connect();
  const counts = new Map<string, number>();
  nc.subscribe(`${prefix}.live.>`, { callback: (err, msg) => err === null && counts.set(msg.subject, (counts.get(msg.subject) ?? 0) + 1) });
  await nc.flush();
  return { counts, close: () => nc.close() };
}

describe.skipIf(!hasNats)('QoS 0 between nodes in frames (real nats-server)', () => {
  it('a burst on a topic no shared group matches travels many messages to a NATS message, all of them in order', async () => {
    const prefix = env.prefix('fr');
    const a = await env.node(prefix, 'n1');
    const b = await env.node(prefix, 'n2');
    const nats = await natsMessages(prefix);
    const sub = await b.client({ clientId: 'fr-sub' });
    await sub.subscribeAsync('burst/t', { qos: 0 });
    const got = payloads(sub, 'burst/t');
    const pub = await a.client({ clientId: 'fr-pub' });
    // No node announces a shared group (share-directory.ts): the topic's messages may share frames
    await pub.publishAsync('burst/t', 'first', { qos: 0 });
    await until(() => got.length === 1, 'the first message');
    await new Promise((r) => setTimeout(r, 300));
    const sent = Array.from({ length: 500 }, (_, i) => `m${i}`);
    for (const p of sent) pub.publish('burst/t', p, { qos: 0 });
    await until(() => got.length >= 501, `all 500 (have ${got.length - 1})`, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual(['first', ...sent]);
    const frames = nats.counts.get(`${prefix}.live.burst.t`) ?? 0;
    expect(frames).toBeGreaterThan(0);
    expect(frames).toBeLessThan(250);
    await nats.close();
  });

  it('on a topic a shared group matches, each QoS 0 message is a NATS message of its own, so NATS picks a node for each', async () => {
    const prefix = env.prefix('fs');
    const a = await env.node(prefix, 'n1');
    const b = await env.node(prefix, 'n2');
    const c = await env.node(prefix, 'n3');
    const nats = await natsMessages(prefix);
    const members = [await b.client({ clientId: 'fs-m1' }), await c.client({ clientId: 'fs-m2' })];
    for (const m of members) await m.subscribeAsync('$share/g/jobs/+', { qos: 0 });
    const shared = members.map((m) => payloads(m, 'jobs/1'));
    const plain = await b.client({ clientId: 'fs-plain' });
    await plain.subscribeAsync('jobs/1', { qos: 0 });
    const all = payloads(plain, 'jobs/1');
    await new Promise((r) => setTimeout(r, 300));
    const pub = await a.client({ clientId: 'fs-pub' });
    await pub.publishAsync('jobs/1', 'first', { qos: 0 });
    await until(() => all.length === 1, 'the first message');
    await new Promise((r) => setTimeout(r, 300)); // the group's announcement reached node a long since
    const sent = Array.from({ length: 200 }, (_, i) => `j${i}`);
    for (const p of sent) pub.publish('jobs/1', p, { qos: 0 });
    await until(() => all.length >= 201 && shared[0]!.length + shared[1]!.length >= 201, 'all 200 to the plain subscriber and the group', 20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(all).toEqual(['first', ...sent]);
    // Exactly one member each, in order per member
    expect([...shared[0]!, ...shared[1]!].sort()).toEqual(['first', ...sent].sort());
    for (const s of shared) expect(s.filter((p) => p !== 'first')).toEqual(sent.filter((p) => s.includes(p)));
    expect(nats.counts.get(`${prefix}.live.jobs.1`)).toBe(201);
    await nats.close();
  });

  it('with no shared group anywhere, QoS 0 messages of many one-message topics cost no request to NATS (child processes)', async () => {
    const prefix = env.prefix('fp');
    const a = await env.spawn(prefix, 'a');
    const b = await env.spawn(prefix, 'b');
    // Any request a node makes about a topic before it frames its messages (the former share probe on <prefix>.probe.…) is seen here
    const nc = await env.connect();
    let requests = 0;
    nc.subscribe(`${prefix}.probe.>`, { callback: () => requests++ });
    await nc.flush();
    const sub = await env.lab.connectMqtt(b.port, { clientId: 'fp-sub' });
    const got: string[] = [];
    sub.on('message', (topic) => got.push(topic));
    await sub.subscribeAsync('fleet/#', { qos: 0 });
    await new Promise((r) => setTimeout(r, 300));
    const pub = await env.lab.connectMqtt(a.port, { clientId: 'fp-pub' });
    const topics = Array.from({ length: 300 }, (_, i) => `fleet/s${i}`);
    for (const topic of topics) await pub.publishAsync(topic, 'x', { qos: 0 });
    await until(() => got.length >= 300, `all 300 (have ${got.length})`, 20_000);
    await nc.flush();
    expect(got.sort()).toEqual([...topics].sort());
    expect(requests, 'no request per topic').toBe(0);
    await nc.close();
  }, 60_000);

  it('a shared group created after a topic travelled in frames: within milliseconds each QoS 0 message is a NATS message of its own, each to exactly one member (child processes)', async () => {
    const prefix = env.prefix('fn');
    const a = await env.spawn(prefix, 'a');
    const b = await env.spawn(prefix, 'b');
    const nats = await natsMessages(prefix);
    const plain = await env.lab.connectMqtt(b.port, { clientId: 'fn-plain' });
    await plain.subscribeAsync('jobs/1', { qos: 0 });
    const all = payloads(plain, 'jobs/1');
    await new Promise((r) => setTimeout(r, 300));
    const pub = await env.lab.connectMqtt(a.port, { clientId: 'fn-pub' });
    const before = Array.from({ length: 200 }, (_, i) => `b${i}`);
    for (const p of before) pub.publish('jobs/1', p, { qos: 0 });
    await until(() => all.length >= 200, `the first 200 (have ${all.length})`, 20_000);
    const framesBefore = nats.counts.get(`${prefix}.live.jobs.1`) ?? 0;
    expect(framesBefore, 'no group yet: the burst shared frames').toBeLessThan(100);
    // Two members on node b (no member on the publishing node a): node a learns of the group from the nodes bucket
    const members = [await env.lab.connectMqtt(b.port, { clientId: 'fn-m1' }), await env.lab.connectMqtt(b.port, { clientId: 'fn-m2' })];
    for (const m of members) await m.subscribeAsync('$share/g/jobs/+', { qos: 0 });
    const shared = members.map((m) => payloads(m, 'jobs/1'));
    await new Promise((r) => setTimeout(r, 300));
    const after = Array.from({ length: 200 }, (_, i) => `j${i}`);
    for (const p of after) pub.publish('jobs/1', p, { qos: 0 });
    await until(() => all.length >= 400 && shared[0]!.length + shared[1]!.length >= 200, 'all 200 to the plain subscriber and the group', 20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(all).toEqual([...before, ...after]);
    expect([...shared[0]!, ...shared[1]!].sort(), 'each message to exactly one member').toEqual([...after].sort());
    expect((nats.counts.get(`${prefix}.live.jobs.1`) ?? 0) - framesBefore, 'one NATS message per message').toBe(200);
    await nats.close();
  }, 60_000);
});
