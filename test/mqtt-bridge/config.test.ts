/** The `bridges` option: defaults, Mosquitto's prefix semantics, and one-line refusals of bad configuration. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveOptions } from '../../src/options.js';
import { resolveMqttBridges } from '../../src/mqtt-bridge/config.js';
import { backoff } from '../../src/mqtt-bridge/link.js';
import { TopicMap, topicMatches } from '../../src/mqtt-bridge/topics.js';

const dir = mkdtempSync(path.join(tmpdir(), 'midge-bridge-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refusal(bridges: unknown): string {
  try {
    resolveOptions({ bridges: bridges as never });
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('accepted');
}

const ok = { name: 'cloud', url: 'mqtt://cloud.example:1883', topics: [{ filter: 'a/#' }] };

describe('bridges option', () => {
  it('applies the defaults', () => {
    const [c] = resolveMqttBridges([ok], 'gw');
    expect(c).toMatchObject({
      name: 'cloud',
      urls: ['mqtt://cloud.example:1883'],
      clientId: 'gw.cloud',
      protocolVersion: 4,
      bridgeBit: true,
      keepalive: 60,
      cleanStart: false,
      maxBacklogBytes: 256 * 1024 * 1024,
      overflow: 'drop-oldest',
      topics: [{ filter: 'a/#', direction: 'out', qos: 0, localPrefix: '', remotePrefix: '', localFilter: 'a/#', remoteFilter: 'a/#' }],
    });
    expect(c?.localUsername).toBeUndefined();
    expect(resolveMqttBridges([{ ...ok, localUsername: 'edge' }])[0]?.localUsername).toBe('edge');
  });

  it.each([
    [[{ ...ok, url: 'http://x' }], 'bridges[0].url: expected an mqtt://, mqtts://, ws:// or wss:// URL with a host, found "http://x"'],
    [[{ ...ok, url: ['mqtt://a', 'nope'] }], 'bridges[0].url[1]: expected'],
    [[{ ...ok, topics: [{ filter: 'a/#/b' }] }], 'bridges[0].topics[0].filter: expected a valid topic filter'],
    [[{ ...ok, topics: [{ filter: 'a', direction: 'up' }] }], 'bridges[0].topics[0].direction: expected out|in|both, found "up"'],
    [[{ ...ok, topics: [{ filter: 'a', qos: 3 }] }], 'bridges[0].topics[0].qos: expected 0, 1 or 2, found 3'],
    [[{ ...ok, topics: [{ filter: 'a', localPrefix: 'x/+/' }] }], 'bridges[0].topics[0].localPrefix: expected a prefix without wildcards'],
    [[{ ...ok, topics: [{ filter: '', localPrefix: 'x/' }] }], 'bridges[0].topics[0].filter: expected a topic filter (or "" with a topic name'],
    [[{ ...ok, topics: [] }], 'bridges[0].topics: expected a non-empty list of topic rules'],
    [[ok, ok], 'bridges[1].name: expected a name no other bridge has, found "cloud"'],
    [[{ ...ok, name: 'a b' }], 'bridges[0].name: expected a name of 1 to 64'],
    [[{ ...ok, protocolVersion: 3 }], 'bridges[0].protocolVersion: expected 4 or 5, found 3'],
    [[{ ...ok, overflow: 'drop-new' }], 'bridges[0].overflow: expected drop-oldest|block, found "drop-new"'],
    [[{ ...ok, ca: path.join(dir, 'missing.crt') }], `bridges[0].ca: cannot read ${path.join(dir, 'missing.crt')}: ENOENT`],
    [[{ ...ok, clientid: 'x' }], 'bridges[0].clientid: unknown option'],
    [[{ ...ok, localUsername: 7 }], 'bridges[0].localUsername: expected a string, found 7'],
    [[{ ...ok, reconnectDelay: 5000, reconnectDelayMax: 1000 }], 'bridges[0].reconnectDelayMax: expected an integer from 5000'],
  ])('refuses %j with one line', (bridges, message) => {
    const text = refusal(bridges);
    expect(text).toContain(message);
    expect(text).not.toContain('\n');
  });

  it('refuses a certificate file that is not PEM, and reads a password file', () => {
    const bad = path.join(dir, 'bad.crt');
    writeFileSync(bad, 'not a certificate');
    expect(refusal([{ ...ok, ca: bad }])).toContain('bridges[0].ca: expected a PEM file');
    const secret = path.join(dir, 'secret');
    writeFileSync(secret, 's3cret\n');
    expect(resolveMqttBridges([{ ...ok, username: 'u', passwordFile: secret }])[0]?.password).toBe('s3cret');
  });
});

describe('prefix semantics (as Mosquitto)', () => {
  it('maps topics between the sides with local and remote prefixes', () => {
    const [c] = resolveMqttBridges([
      {
        ...ok,
        topics: [
          { filter: 'sensors/#', direction: 'out', qos: 1, localPrefix: 'site/', remotePrefix: 'edge/7/' },
          { filter: 'cmd/+', direction: 'in', qos: 2, localPrefix: 'local/', remotePrefix: 'edge/7/' },
          { filter: '', direction: 'both', localPrefix: 'here/state', remotePrefix: 'there/state' },
        ],
      },
    ]);
    const map = new TopicMap(c?.topics ?? []);
    expect(map.outbound.map((t) => t.localFilter)).toEqual(['site/sensors/#', 'here/state']);
    expect(map.inbound.map((t) => t.remoteFilter)).toEqual(['edge/7/cmd/+', 'there/state']);
    expect(map.toRemote('site/sensors/t/1')).toEqual({ topic: 'edge/7/sensors/t/1', qos: 1 });
    expect(map.toRemote('here/state')).toEqual({ topic: 'there/state', qos: 0 });
    expect(map.toRemote('sensors/x')).toBeUndefined();
    expect(map.toLocal('edge/7/cmd/valve')).toEqual({ topic: 'local/cmd/valve', qos: 2 });
    expect(map.toLocal('there/state')).toEqual({ topic: 'here/state', qos: 0 });
    expect(map.toLocal('edge/7/cmd/a/b')).toBeUndefined();
  });

  it('matches filters as the spec does', () => {
    expect(topicMatches('a/#', 'a')).toBe(true);
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+', 'a/b/c')).toBe(false);
    expect(topicMatches('#', '$SYS/x')).toBe(false); // [MQTT-4.7.2-1]
    expect(topicMatches('$SYS/#', '$SYS/x')).toBe(true);
  });
});

describe('reconnect backoff', () => {
  it('doubles from the first delay, with jitter between half and all of it, up to the cap', () => {
    expect([1, 2, 3, 4].map((n) => backoff(n, 1000, 60_000, () => 1))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoff(3, 1000, 60_000, () => 0)).toBe(2000);
    expect(backoff(40, 1000, 60_000, () => 1)).toBe(60_000);
    for (let i = 0; i < 100; i++) {
      const d = backoff(5, 1000, 60_000);
      expect(d).toBeGreaterThanOrEqual(8000);
      expect(d).toBeLessThanOrEqual(16_000);
    }
  });
});
