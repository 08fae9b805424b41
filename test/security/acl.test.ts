import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Packet } from 'mqtt-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBroker, hashPassword, isBrokerError } from '../../src/index.js';
import { parseAcl } from '../../src/auth/acl.js';
import { covers, intersects, substitute } from '../../src/auth/patterns.js';
import { ackCode, collect, sleep, startBroker, subackCodes, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

let dir: string;
let t: TestBroker | undefined;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'midge-acl-'));
});
afterEach(async () => {
  await t?.close();
  t = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function aclFile(text: string): string {
  const file = path.join(dir, 'acl.conf');
  writeFileSync(file, text);
  return file;
}

const L = (s: string) => s.split('/');

describe('topic patterns', () => {
  it('intersects: some topic matches both', () => {
    expect(intersects(L('a/#'), L('#'))).toBe(true);
    expect(intersects(L('a/+'), L('+/b'))).toBe(true);
    expect(intersects(L('a/b'), L('a/c'))).toBe(false);
    expect(intersects(L('a/#'), L('a'))).toBe(true);
    expect(intersects(L('#'), L('$SYS/x'))).toBe(false); // [MQTT-4.7.2-1]
    expect(intersects(L('+/x'), L('$SYS/x'))).toBe(false);
    expect(intersects(L('$SYS/#'), L('$SYS/broker'))).toBe(true);
  });

  it('covers: every topic of the filter matches the pattern', () => {
    expect(covers(L('a/#'), L('a/b/+'))).toBe(true);
    expect(covers(L('a/+'), L('a/#'))).toBe(false);
    expect(covers(L('#'), L('$SYS/#'))).toBe(false);
    expect(covers(L('#'), L('+/x'))).toBe(true);
    expect(covers(L('a/b'), L('a/+'))).toBe(false);
    expect(covers(L('a/+/c'), L('a/b/c'))).toBe(true);
  });

  it('substitution refuses values that would widen a rule', () => {
    expect(substitute('u/%u/%c', 'alice', 'dev1')).toBe('u/alice/dev1');
    expect(substitute('u/%u', undefined, 'dev1')).toBeUndefined();
    expect(substitute('u/%u', 'a/b', 'dev1')).toBeUndefined();
    expect(substitute('c/%c', 'x', '#')).toBeUndefined();
  });
});

describe('ACL file parser', () => {
  it('reads sections, access kinds, patterns and comments', () => {
    const rules = parseAcl(
      ['# comment', 'topic read public/#', '', 'user alice', '  topic readwrite home/alice/#', '  topic deny home/alice/secret', 'client dev-1', 'topic write sensors/dev-1', 'everyone', 'topic x/y', 'pattern read devices/%c/#'].join('\n'),
      'acl.conf',
    );
    expect(rules).toEqual([
      { scope: { kind: 'everyone' }, access: 'read', pattern: 'public/#' },
      { scope: { kind: 'user', name: 'alice' }, access: 'readwrite', pattern: 'home/alice/#' },
      { scope: { kind: 'user', name: 'alice' }, access: 'deny', pattern: 'home/alice/secret' },
      { scope: { kind: 'client', id: 'dev-1' }, access: 'write', pattern: 'sensors/dev-1' },
      { scope: { kind: 'everyone' }, access: 'readwrite', pattern: 'x/y' },
      { scope: { kind: 'everyone' }, access: 'read', pattern: 'devices/%c/#' },
    ]);
  });

  it.each([
    ['topic rw a/b', 'acl.conf:2: unknown access "rw" (read, write, readwrite or deny)'],
    ['topic read a/#/b', 'acl.conf:2: invalid topic filter "a/#/b"'],
    ['user', 'acl.conf:2: "user" needs a name'],
    ['allow a', 'acl.conf:2: unknown keyword "allow" (user, client, everyone, topic or pattern)'],
    ['topic read a b', 'acl.conf:2: expected one topic filter'],
  ])('%j is refused with the file and line', (line, message) => {
    expect(() => parseAcl(`# first\n${line}\n`, 'acl.conf')).toThrow(`invalid security file: ${message}`);
  });

  it('an unreadable rule stops the start (ERR_SECURITY_FILE naming file and line)', () => {
    const file = aclFile('user a\ntopic sometimes x\n');
    let err: unknown;
    try {
      createBroker({ aclFile: file, store: 'memory' });
    } catch (e) {
      err = e;
    }
    expect(isBrokerError(err, 'ERR_SECURITY_FILE')).toBe(true);
    expect((err as Error).message).toContain(`${file}:2: unknown access "sometimes"`);
  });
});

describe('end-of-line comments (issue 18, defect 1)', () => {
  /** The ACL example of the README, exactly as written there. */
  function readmeExample(): string {
    const readme = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### ACL file'));
    const block = /```\n([\s\S]*?)```/.exec(section)?.[1];
    if (block === undefined) throw new Error('no example under ### ACL file in README.md');
    return block;
  }

  it("the README's example loads as written, and its comments are not part of names or filters", () => {
    const rules = parseAcl(readmeExample(), 'README.md');
    expect(rules).toContainEqual({ scope: { kind: 'user', name: 'alice' }, access: 'readwrite', pattern: 'home/alice/#' });
    expect(rules).toContainEqual({ scope: { kind: 'user', name: 'alice' }, access: 'deny', pattern: 'home/alice/secret' });
    expect(rules).toContainEqual({ scope: { kind: 'client', id: 'sensor-7' }, access: 'write', pattern: 'sensors/sensor-7/#' });
    expect(rules).toContainEqual({ scope: { kind: 'everyone' }, access: 'readwrite', pattern: 'users/%u/#' });
    expect(rules.every((r) => !r.pattern.includes(' ') && (r.scope.kind !== 'user' || r.scope.name === 'alice'))).toBe(true);
  });

  it('"#" as a filter, or ending a filter, is a wildcard; after whitespace it starts a comment', () => {
    const rules = parseAcl('topic read #\ntopic # # all\ntopic deny a/# # not a\nuser bob # the user bob\ntopic write b\n', 'f');
    expect(rules).toEqual([
      { scope: { kind: 'everyone' }, access: 'read', pattern: '#' },
      { scope: { kind: 'everyone' }, access: 'readwrite', pattern: '#' },
      { scope: { kind: 'everyone' }, access: 'deny', pattern: 'a/#' },
      { scope: { kind: 'user', name: 'bob' }, access: 'write', pattern: 'b' },
    ]);
    expect(() => parseAcl('topic read a/b extra\n', 'f')).toThrow('f:1: expected one topic filter (a comment starts with " #")');
    // A lone trailing '#' is a filter, not a comment: "maybe" is then an unknown access
    expect(() => parseAcl('topic maybe #\n', 'f')).toThrow('f:1: unknown access "maybe"');
    expect(() => parseAcl('topic read a/b #\n', 'f')).toThrow('f:1: expected one topic filter');
  });

  it('with the README example loaded, alice may use her topics (her name is not "alice # ...")', async () => {
    const passwords = path.join(dir, 'passwd');
    writeFileSync(passwords, `alice:${await hashPassword(Buffer.from('pw'))}\n`);
    t = await startBroker({ aclFile: aclFile(readmeExample()), passwordFile: passwords });
    const alice = await t.client({ username: 'alice', password: 'pw', protocolVersion: 5 });
    const got = collect(alice);
    expect(await subackCodes(alice, { 'home/alice/#': { qos: 1 } })).toEqual([1]);
    await alice.publishAsync('home/alice/lamp', 'on', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0]?.topic).toBe('home/alice/lamp');
  });
});

const RULES = `
# everyone may read public topics
topic read public/#
user alice
topic readwrite home/alice/#
topic deny home/alice/secret
topic read a/#
client dev-1
topic write sensors/dev-1/#
pattern readwrite users/%u/#
pattern readwrite clients/%c/#
`;

describe('ACL enforcement', () => {
  it('PUBLISH: allowed topics are routed; 5.0 denied QoS 1/2 answer 0x87, QoS 0 and 3.1.1 are dropped', async () => {
    t = await startBroker({ aclFile: aclFile(RULES) });
    const watcher = await t.client({ clientId: 'watcher', username: 'alice' });
    const got = collect(watcher);
    await watcher.subscribeAsync('home/alice/#');
    await watcher.subscribeAsync('users/#'); // intersects users/alice/#: granted, deliveries checked
    const a5 = await t.client({ clientId: 'a5', username: 'alice', protocolVersion: 5 });
    const m5 = await t.client({ clientId: 'm5', username: 'mallory', protocolVersion: 5 });
    const m4 = await t.client({ clientId: 'm4', username: 'mallory', protocolVersion: 4 });
    expect(await ackCode(a5, 'home/alice/lamp', 'on', 1)).toBe(0);
    expect(await ackCode(a5, 'home/alice/secret', 'x', 1)).toBe(0x87); // deny wins
    expect(await ackCode(m5, 'home/alice/lamp', 'off', 1)).toBe(0x87);
    expect(await ackCode(m5, 'home/alice/lamp', 'off', 2)).toBe(0x87);
    await m5.publishAsync('home/alice/lamp', 'off', { qos: 0 });
    await m4.publishAsync('home/alice/lamp', 'off', { qos: 1 }); // acknowledged, dropped [3.1.1 has no negative PUBACK]
    // %u: mallory may write her own tree; the watcher (alice) matches it but may not read it
    expect(await ackCode(m5, 'users/mallory/x', 'own', 1)).toBe(0);
    await got.waitFor(1);
    await sleep(100);
    expect(got.messages.map((m) => `${m.topic}=${m.payload}`)).toEqual(['home/alice/lamp=on']);
    expect(t.broker.stats.dropped['not-authorized']).toBeGreaterThanOrEqual(5);
  });

  it('SUBSCRIBE: a filter no read rule can match gets 0x87 (5.0) / 0x80 (3.1.1); a deny covering it too', async () => {
    t = await startBroker({ aclFile: aclFile(RULES) });
    const a5 = await t.client({ clientId: 'a5', username: 'alice', protocolVersion: 5 });
    const granted = await subackCodes(a5, {
      'home/alice/#': { qos: 1 },
      'public/+': { qos: 0 },
      'home/bob/#': { qos: 0 },
      'home/alice/secret': { qos: 0 },
      '$share/g/public/x': { qos: 0 },
    });
    expect(granted).toEqual([1, 0, 0x87, 0x87, 0]);
    const m4 = await t.client({ clientId: 'm4', username: 'mallory', protocolVersion: 4 });
    expect(await subackCodes(m4, { 'home/alice/#': { qos: 0 }, 'public/#': { qos: 0 } })).toEqual([128, 0]);
  });

  it('a wide subscription (#) brings only the topics the client may read, live and retained', async () => {
    t = await startBroker({ aclFile: aclFile(RULES) });
    for (const topic of ['a/x', 'b/x', 'public/news', 'home/alice/secret']) await t.broker.publish({ topic, payload: topic, retain: true, qos: 1 });
    const alice = await t.client({ clientId: 'alice-sub', username: 'alice', protocolVersion: 5 });
    const got = collect(alice);
    const [grant] = await alice.subscribeAsync('#', { qos: 1 });
    expect(grant?.qos).toBe(1);
    await got.waitFor(2);
    await sleep(100);
    expect(got.messages.map((m) => m.topic).sort()).toEqual(['a/x', 'public/news']); // not b/x, not the denied secret
    got.messages.length = 0;
    for (const topic of ['b/live', 'a/live', 'home/alice/secret', 'public/live']) await t.broker.publish({ topic, payload: 'l', qos: 1 });
    await got.waitFor(2);
    await sleep(100);
    expect(got.messages.map((m) => m.topic)).toEqual(['a/live', 'public/live']);
  });

  it('rules per client id, %c patterns and deny-by-default for an anonymous client', async () => {
    t = await startBroker({ aclFile: aclFile(RULES) });
    const dev = await t.client({ clientId: 'dev-1', protocolVersion: 5 });
    expect(await ackCode(dev, 'sensors/dev-1/temp', '20', 1)).toBe(0x10); // allowed, nobody subscribed
    expect(await ackCode(dev, 'sensors/dev-2/temp', '20', 1)).toBe(0x87);
    expect(await ackCode(dev, 'clients/dev-1/state', 'up', 1)).toBe(0x10);
    const anon = await t.client({ clientId: 'anon', protocolVersion: 5 });
    expect(await ackCode(anon, 'anything', 'x', 1)).toBe(0x87);
    expect(await subackCodes(anon, { 'public/#': { qos: 0 }, 'users/#': { qos: 0 } })).toEqual([0, 0x87]); // %u needs a username
  });

  it('reloadSecurity() applies new rules to connected clients, including their existing subscriptions', async () => {
    const file = aclFile(RULES);
    t = await startBroker({ aclFile: file });
    const alice = await t.client({ clientId: 'alice-r', username: 'alice', protocolVersion: 5 });
    const got = collect(alice);
    await alice.subscribeAsync('#', { qos: 0 });
    await t.broker.publish({ topic: 'a/1', payload: '1' });
    await got.waitFor(1);
    writeFileSync(file, 'user alice\ntopic read public/#\n');
    t.broker.reloadSecurity();
    await t.broker.publish({ topic: 'a/2', payload: '2' });
    await t.broker.publish({ topic: 'public/3', payload: '3' });
    await got.waitFor(2);
    await sleep(50);
    expect(got.messages.map((m) => m.topic)).toEqual(['a/1', 'public/3']);
    expect(alice.connected).toBe(true);
  });

  it('a will is published only where its client may write (checked when it goes out, as that client)', async () => {
    t = await startBroker({ aclFile: aclFile(RULES) });
    const watcher = await t.client({ clientId: 'w', username: 'alice' });
    const got = collect(watcher);
    await watcher.subscribeAsync('home/alice/#');
    const watcherM = await t.client({ clientId: 'wm', username: 'mallory' });
    const gotM = collect(watcherM);
    await watcherM.subscribeAsync('users/mallory/#');
    const denied = await t.client({ clientId: 'm-will-1', username: 'mallory', will: { topic: 'home/alice/alarm', payload: Buffer.from('x'), qos: 0, retain: false } });
    const allowed = await t.client({ clientId: 'm-will-2', username: 'mallory', will: { topic: 'users/mallory/status', payload: Buffer.from('gone'), qos: 0, retain: false } });
    const before = t.broker.stats.dropped['not-authorized'];
    denied.stream.destroy();
    allowed.stream.destroy();
    await gotM.waitFor(1);
    await sleep(100);
    expect(gotM.messages.map((m) => m.payload)).toEqual(['gone']);
    expect(got.messages).toEqual([]);
    expect(t.broker.stats.dropped['not-authorized']).toBe(before + 1);
  });

  it('raw 3.1.1: a denied QoS 1 PUBLISH is acknowledged with a plain PUBACK and not delivered', async () => {
    t = await startBroker({ aclFile: aclFile(RULES) });
    const r = await Wire.open(t.port, 4);
    try {
      await r.handshake({ clientId: 'raw-m', username: 'mallory' });
      r.send({ cmd: 'publish', topic: 'home/alice/x', payload: Buffer.from('x'), qos: 1, messageId: 7, dup: false, retain: true } as Packet);
      expect(await r.next('puback')).toMatchObject({ messageId: 7 });
      expect(t.broker.retainedCount).toBe(0);
    } finally {
      r.close();
    }
  });
});
