import { afterEach, describe, expect, it } from 'vitest';
import { collect, startBroker, type TestBroker } from '../helpers/broker.js';

let t: TestBroker;
afterEach(async () => t?.close());

describe('smoke', () => {
  it('routes a QoS 0 message over TCP (3.1.1) and WebSocket (5.0)', async () => {
    t = await startBroker();
    const sub = await t.client({ protocolVersion: 5, ws: true });
    const got = collect(sub);
    await sub.subscribeAsync('site/+/temperature');
    const pub = await t.client({ protocolVersion: 4 });
    await pub.publishAsync('site/room-3/temperature', '21.5');
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'site/room-3/temperature', payload: '21.5' });
  });
});
