import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/engines.js';
import { hasNats, useNats } from '../helpers/cluster.js';
import { prng, seedFrom, sleep, until } from '../crash/helpers.js';

const env = useNats('cluster failover tests');
const lab = env.lab;
const node = (prefix: string, nodeId: string, port = 0) => env.spawn(prefix, nodeId, port);

describe.skipIf(!hasNats)('cluster mode: kill -9 of the publisher\'s node (real nats-server, child processes)', () => {
  it('every QoS 1 message the publisher had acknowledged reaches a persistent subscriber on another node', async () => {
    const random = prng(seedFrom(15_003));
    const prefix = `fo${Date.now() % 100000}`;
    const subscriberNode = await node(prefix, 'b');
    const sub = await lab.connectMqtt(subscriberNode.port, { clientId: 'fo-sub', clean: false, protocolVersion: 4 });
    await sub.subscribeAsync('fo/#', { qos: 1 });
    await sub.endAsync();
    await sleep(200);

    const port = await freePort();
    let publisherNode = await node(prefix, 'a', port);
    // mqtt.js keeps unacknowledged messages and resends them (DUP=1) when the restarted node is back
    const pub = lab.mqtt(port, { clientId: 'fo-pub', clean: false, protocolVersion: 4, reconnectPeriod: 100 });
    await until(() => pub.connected, 'publisher connected', 10_000);
    const total = 300;
    const acked = new Set<number>();
    const kills = [Math.floor(total * (0.2 + random() * 0.3)), Math.floor(total * (0.6 + random() * 0.3))];
    for (let seq = 0; seq < total; seq++) {
      pub.publish('fo/data', String(seq), { qos: 1 }, (err) => {
        if (!err) acked.add(seq);
      });
      if (kills.includes(seq)) {
        await publisherNode.crash();
        publisherNode = await lab.restart(publisherNode); // same node id: waits for the old heartbeat to lapse
      }
      await sleep(5);
    }
    await until(() => acked.size === total, `all ${total} acknowledged (have ${acked.size})`, 30_000);

    const received = new Map<number, number>();
    const back = lab.mqtt(subscriberNode.port, { clientId: 'fo-sub', clean: false, protocolVersion: 4 });
    back.on('message', (_topic, payload) => received.set(Number(payload.toString()), (received.get(Number(payload.toString())) ?? 0) + 1));
    await until(() => [...acked].every((seq) => received.has(seq)), 'every acknowledged message delivered', 30_000).catch(() => undefined);
    const missing = [...acked].filter((seq) => !received.has(seq)).sort((x, y) => x - y);
    expect(missing, 'acknowledged but never delivered').toEqual([]);
  }, 120_000);
});
