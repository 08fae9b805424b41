/**
 * Gaps on the live path (issue 15): a node that misses stored messages (its NATS connection
 * dropped, or a live message shows that its predecessor on the subject never arrived) replays
 * them from the MSGS stream, in stream order and once each.
 */
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { headers } from 'nats';
import { encodeMessage } from '../../src/store/records.js';
import { hasNats, until, useNats } from '../helpers/cluster.js';
import { sleep } from '../helpers/broker.js';

const env = useNats('cluster gap tests');

/** Records every PUBLISH a raw subscriber gets (payload, DUP) and acknowledges it. */
function recordDeliveries(wire: { listen(h: (p: Packet) => void): void; send(p: Packet): void }): { payload: string; dup: boolean }[] {
  const got: { payload: string; dup: boolean }[] = [];
  wire.listen((p) => {
    if (p.cmd !== 'publish') return;
    const publish = p as IPublishPacket;
    got.push({ payload: publish.payload.toString(), dup: publish.dup });
    if (publish.qos > 0) wire.send({ cmd: 'puback', messageId: publish.messageId } as Packet);
  });
  return got;
}

describe.skipIf(!hasNats)('cluster mode: gaps on the live path are replayed (real nats-server)', () => {
  it('nats-server restarted (same port and store) while a publisher on one node keeps publishing to an online persistent subscriber on another: 0 lost, no repeat without DUP=1', async () => {
    const prefix = env.prefix('gap');
    const a = await env.node(prefix, 'a');
    const b = await env.node(prefix, 'b');
    const sub = await env.wire(b, 4);
    await sub.connect('gap-sub', { clean: false });
    await sub.subscribe(1, [{ topic: 'gap/#', qos: 1 }]);
    const got = recordDeliveries(sub);
    await sleep(300);
    const pub = a.open({ clientId: 'gap-pub', clean: false, protocolVersion: 4 });
    await until(() => pub.connected, 'publisher connected', 10_000);
    const total = 400;
    const acked = new Set<string>();
    for (let i = 0; i < total; i++) {
      pub.publish('gap/t', String(i), { qos: 1 }, (err) => {
        if (!err) acked.add(String(i));
      });
      if (i === 150) await env.nats.kill();
      if (i === 200) await env.nats.start();
      await sleep(10);
    }
    await until(() => acked.size === total, `every PUBACK (have ${acked.size})`, 90_000);
    await until(() => new Set(got.map((g) => g.payload)).size >= total, `every message delivered (have ${new Set(got.map((g) => g.payload)).size})`, 30_000).catch(() => undefined);
    await sleep(500);
    const delivered = new Set(got.map((g) => g.payload));
    const missing = [...acked].filter((p) => !delivered.has(p));
    expect(missing, 'acknowledged but not delivered').toEqual([]);
    const seen = new Set<string>();
    const repeatsWithoutDup = got.filter((g) => {
      const again = seen.has(g.payload);
      seen.add(g.payload);
      return again && !g.dup;
    });
    expect(repeatsWithoutDup, 'delivered again without DUP=1').toEqual([]);
    console.info(`gap test: ${total} acknowledged, ${got.length} deliveries of ${delivered.size} messages; gap replays on node b: ${(b.broker.cluster as unknown as { gapReplays: number }).gapReplays}`);
  }, 150_000);

  it('a live message whose predecessor on its subject (Nats-Last-Sequence) never reached the node: the node replays that subject first, in order, once', async () => {
    const prefix = env.prefix('gls');
    const node = await env.node(prefix, 'a');
    const nc = await env.connect();
    try {
      const js = nc.jetstream();
      const encoded = (payload: string) => encodeMessage({ id: 0, topic: 'gls/t', payload: Buffer.from(payload), qos: 1, retain: false, properties: undefined, expiresAt: undefined, origin: undefined });
      const stored = async (payload: string) => (await js.publish(`${prefix}.msgs.gls.t`, encoded(payload))).seq;
      // m1 and m2 are stored while nobody on the node listens
      const s1 = await stored('m1');
      await stored('m2');
      const sub = await env.wire(node, 5);
      await sub.connect('gls-sub', { clean: true });
      await sub.subscribe(1, [{ topic: 'gls/#', qos: 1 }]);
      const got = recordDeliveries(sub);
      await sleep(300);
      // The node is made to route m1 as if the stream had republished it live: it now tracks gls/t
      // from sequence s1 on, and never received m2
      const h = headers();
      for (const [k, v] of [['Nats-Stream', `${prefix.toUpperCase()}_MSGS`], ['Nats-Subject', `${prefix}.msgs.gls.t`], ['Nats-Sequence', String(s1)], ['Nats-Last-Sequence', '0']] as const) h.set(k, v);
      nc.publish(`${prefix}.live.gls.t`, encoded('m1'), { headers: h });
      await until(() => got.length === 1, 'm1');
      // m3's republish names m2 as its predecessor on gls/t
      await stored('m3');
      await until(() => got.length >= 3, `m2 replayed, then m3 (have ${got.map((g) => g.payload).join(',')})`);
      await sleep(500);
      expect(got.map((g) => g.payload)).toEqual(['m1', 'm2', 'm3']);
    } finally {
      await nc.close();
    }
  }, 60_000);
});
