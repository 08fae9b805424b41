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
    // The first message asks whether a shared group matches; the answer ("no responders") comes back at once
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
    await new Promise((r) => setTimeout(r, 300)); // the probe's answer: a group answers
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
});
