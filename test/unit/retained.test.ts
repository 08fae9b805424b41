import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/broker/message.js';
import { RetainedIndex } from '../../src/broker/retained.js';

let nextId = 1;
function msg(topic: string): Message {
  return { id: nextId++, topic, payload: Buffer.from(topic), qos: 0, retain: true, properties: undefined, expiresAt: undefined, origin: undefined };
}

const topics = (list: Message[]) => list.map((m) => m.topic).sort();

describe('RetainedIndex', () => {
  it('sets, replaces and deletes per topic', () => {
    const index = new RetainedIndex();
    index.add(msg('a/b'));
    const second = msg('a/b');
    index.add(second);
    expect(index.size).toBe(1);
    expect(index.get('a/b')).toBe(second);
    expect(index.delete('a/b')).toBe(true);
    expect(index.delete('a/b')).toBe(false);
    expect(index.size).toBe(0);
  });

  it('finds matches for filters with + and #', () => {
    const index = new RetainedIndex();
    for (const t of ['a', 'a/b', 'a/b/c', 'a/x/c', 'b/b', '$SYS/uptime']) index.add(msg(t));
    expect(topics(index.match('a/+/c'))).toEqual(['a/b/c', 'a/x/c']);
    expect(topics(index.match('a/#'))).toEqual(['a', 'a/b', 'a/b/c', 'a/x/c']);
    expect(topics(index.match('+/b'))).toEqual(['a/b', 'b/b']);
    expect(topics(index.match('a/b'))).toEqual(['a/b']);
  });

  it('[MQTT-4.7.2-1] leading wildcards do not match $ topics', () => {
    const index = new RetainedIndex();
    index.add(msg('$SYS/uptime'));
    index.add(msg('x/uptime'));
    expect(topics(index.match('#'))).toEqual(['x/uptime']);
    expect(topics(index.match('+/uptime'))).toEqual(['x/uptime']);
    expect(topics(index.match('$SYS/#'))).toEqual(['$SYS/uptime']);
  });

  it('keeps a parent when a child is deleted and prunes empty branches', () => {
    const index = new RetainedIndex();
    index.add(msg('a'));
    index.add(msg('a/b/c'));
    index.delete('a/b/c');
    expect(topics(index.all())).toEqual(['a']);
    expect(topics(index.match('a/#'))).toEqual(['a']);
  });
});
