/**
 * Failure test 3 of issue 15: kill -9 of the publisher's node at random moments while a persistent
 * subscriber is offline on another node. Every acknowledged message is delivered; at QoS 2, none twice.
 */
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/engines.js';
import { hasNats, useNats } from '../helpers/cluster.js';
import { prng, seedFrom, sleep, until } from '../crash/helpers.js';

const env = useNats('cluster failover tests');
const lab = env.lab;

describe.skipIf(!hasNats)('cluster mode: kill -9 of the publisher\'s node (real nats-server, child processes)', () => {
  it.each([1, 2] as const)('3: at QoS %i every message the publisher had acknowledged reaches a persistent subscriber on another node (at QoS 2 exactly once)', async (qos) => {
    const random = prng(seedFrom(15_003 + qos));
    const prefix = env.prefix(`fo${qos}`);
    const subscriberNode = await env.spawn(prefix, 'b');
    const sub = await lab.connectMqtt(subscriberNode.port, { clientId: 'fo-sub', clean: false, protocolVersion: 4 });
    await sub.subscribeAsync('fo/#', { qos });
    await sub.endAsync();
    await sleep(200);

    const port = await freePort();
    let publisherNode = await env.spawn(prefix, 'a', port);
    // mqtt.js keeps unacknowledged messages (QoS 2: the PUBLISH before PUBREC, the PUBREL after it)
    // and resends them when the restarted node is back (same node id, new incarnation)
    const pub = lab.mqtt(port, { clientId: 'fo-pub', clean: false, protocolVersion: 4, reconnectPeriod: 100 });
    // Acknowledged: QoS 1 PUBACK; QoS 2 PUBREC (from then on the broker owns the message [MQTT-4.3.3])
    const acked = new Set<number>();
    const completed = new Set<number>();
    const sentAs = new Map<number, number>(); // packet id -> the message it carries now
    pub.on('packetsend', (p: Packet) => {
      if (p.cmd === 'publish') sentAs.set(p.messageId as number, Number((p as IPublishPacket).payload.toString()));
    });
    pub.on('packetreceive', (p: Packet) => {
      if (p.cmd === 'puback' || p.cmd === 'pubrec') acked.add(sentAs.get(p.messageId as number) as number);
    });
    await until(() => pub.connected, 'publisher connected', 10_000);
    const total = 300;
    const kills = [Math.floor(total * (0.2 + random() * 0.3)), Math.floor(total * (0.6 + random() * 0.3))];
    for (let seq = 0; seq < total; seq++) {
      pub.publish('fo/data', String(seq), { qos }, (err) => {
        if (!err) completed.add(seq);
      });
      if (kills.includes(seq)) {
        await sleep(random() * 20);
        await publisherNode.crash();
        publisherNode = await lab.restart(publisherNode); // same node id: waits for the old heartbeat to lapse
      }
      await sleep(5);
    }
    await until(() => completed.size === total, `all ${total} completed (have ${completed.size})`, 60_000);
    expect(acked.size).toBe(total);

    const received = new Map<number, number>();
    const back = lab.mqtt(subscriberNode.port, { clientId: 'fo-sub', clean: false, protocolVersion: 4 });
    // Every delivery counts, a redelivery with DUP=1 too: the subscriber dedupes nothing
    back.on('message', (_topic, payload) => received.set(Number(payload.toString()), (received.get(Number(payload.toString())) ?? 0) + 1));
    await until(() => [...acked].every((seq) => received.has(seq)), 'every acknowledged message delivered', 30_000).catch(() => undefined);
    await sleep(500);
    const missing = [...acked].filter((seq) => !received.has(seq)).sort((x, y) => x - y);
    expect(missing, 'acknowledged but never delivered').toEqual([]);
    if (qos === 2) {
      const twice = [...received].filter(([, n]) => n > 1).map(([seq]) => seq);
      expect(twice, 'delivered more than once at QoS 2').toEqual([]);
    }
    console.info(`failure test 3 at QoS ${qos}: ${total} published, ${acked.size} acknowledged, ${received.size} delivered, ${[...received.values()].reduce((s, n) => s + n, 0)} deliveries; kills after messages ${kills.join(', ')}`);
  }, 180_000);
});
