import { describe, expect, it } from 'vitest';
import type { Subscription } from '../../src/broker/subscription.js';
import { TopicTree, type SharedGroup } from '../../src/broker/topic-tree.js';
import { prng } from '../helpers/prng.js';

function sub(clientId: string, filter: string, group?: string): Subscription {
  return { clientId, filter, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0, identifier: undefined, group };
}

function matches(tree: TopicTree, topic: string): string[] {
  const out: string[] = [];
  tree.match(topic, {
    subscription: (s) => out.push(`${s.clientId}:${s.filter}`),
    group: (g: SharedGroup) => out.push(`group:${g.name}`),
  });
  return out.sort();
}

describe('TopicTree', () => {
  it('matches exact, + and # filters', () => {
    const tree = new TopicTree();
    for (const f of ['a/b/c', 'a/+/c', 'a/#', '#', '+/+/+', 'a/b', 'x/y']) tree.add(f, sub('c', f));
    expect(matches(tree, 'a/b/c')).toEqual(['c:#', 'c:+/+/+', 'c:a/#', 'c:a/+/c', 'c:a/b/c']);
    expect(matches(tree, 'a/b')).toEqual(['c:#', 'c:a/#', 'c:a/b']);
  });

  it('a topic matched again, after others and after subscription changes, matches as the first time', () => {
    const tree = new TopicTree();
    tree.add('a/+', sub('c', 'a/+'));
    const topic = 'a/b';
    expect(matches(tree, topic)).toEqual(['c:a/+']);
    expect(matches(tree, topic)).toEqual(['c:a/+']);
    expect(matches(tree, 'a/b/c')).toEqual([]);
    tree.add('a/b', sub('d', 'a/b'));
    expect(matches(tree, topic)).toEqual(['c:a/+', 'd:a/b']);
    tree.delete('a/+', 'c');
    expect(matches(tree, 'a/b')).toEqual(['d:a/b']);
    expect(matches(tree, '$a/b')).toEqual([]);
  });

  it('[MQTT-4.7.1-2] "sport/#" also matches the parent level "sport"', () => {
    const tree = new TopicTree();
    tree.add('sport/#', sub('c', 'sport/#'));
    expect(matches(tree, 'sport')).toEqual(['c:sport/#']);
    expect(matches(tree, 'sports')).toEqual([]);
  });

  it('[MQTT-4.7.1-3] "+" matches exactly one level, including an empty one', () => {
    const tree = new TopicTree();
    tree.add('a/+', sub('c', 'a/+'));
    expect(matches(tree, 'a/')).toEqual(['c:a/+']);
    expect(matches(tree, 'a/b/c')).toEqual([]);
    expect(matches(tree, 'a')).toEqual([]);
  });

  it('[MQTT-4.7.2-1] a leading wildcard does not match topics starting with $', () => {
    const tree = new TopicTree();
    for (const f of ['#', '+/info', '$SYS/#', '$SYS/+']) tree.add(f, sub('c', f));
    expect(matches(tree, '$SYS/info')).toEqual(['c:$SYS/#', 'c:$SYS/+']);
    expect(matches(tree, 'x/info')).toEqual(['c:#', 'c:+/info']);
  });

  it('keeps one subscription per client and filter, replacing on re-add', () => {
    const tree = new TopicTree();
    expect(tree.add('a', sub('c1', 'a'))).toBe(true);
    expect(tree.add('a', sub('c1', 'a'))).toBe(false);
    expect(tree.add('a', sub('c2', 'a'))).toBe(true);
    expect(tree.size).toBe(2);
    expect(tree.delete('a', 'c1')).toBe(true);
    expect(tree.delete('a', 'c1')).toBe(false);
    expect(matches(tree, 'a')).toEqual(['c2:a']);
  });

  it('prunes empty nodes on delete', () => {
    const tree = new TopicTree();
    tree.add('a/b/c', sub('c', 'a/b/c'));
    tree.delete('a/b/c', 'c');
    expect(tree.size).toBe(0);
    tree.add('a/#', sub('c', 'a/#'));
    expect(matches(tree, 'a/b/c')).toEqual(['c:a/#']);
  });

  it('reports shared groups once per group and picks members round-robin', () => {
    const tree = new TopicTree();
    tree.add('t', sub('m1', '$share/g/t', 'g'));
    tree.add('t', sub('m2', '$share/g/t', 'g'));
    const groups: SharedGroup[] = [];
    tree.match('t', { subscription: () => undefined, group: (g) => groups.push(g) });
    expect(groups).toHaveLength(1);
    const group = groups[0] as SharedGroup;
    const picks = [1, 2, 3, 4].map(() => group.pick(() => true)?.clientId);
    expect(picks).toEqual(['m1', 'm2', 'm1', 'm2']);
    expect(group.pick((s) => s.clientId === 'm2')?.clientId).toBe('m2');
    expect(tree.delete('t', 'm1', 'g')).toBe(true);
    expect(tree.delete('t', 'm2', 'g')).toBe(true);
    expect(tree.size).toBe(0);
  });

  it("shared strategies: 'random' spreads over usable members, 'sticky' stays with one while it is usable", () => {
    const tree = new TopicTree();
    for (const id of ['m1', 'm2', 'm3']) tree.add('t', sub(id, '$share/g/t', 'g'));
    const groups: SharedGroup[] = [];
    tree.match('t', { subscription: () => undefined, group: (g) => groups.push(g) });
    const group = groups[0] as SharedGroup;
    const random = prng(7);
    const counts = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const id = group.pick((s) => s.clientId !== 'm3', 'random', random)?.clientId as string;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(counts.get('m3')).toBeUndefined();
    expect(counts.get('m1')).toBeGreaterThan(20);
    expect(counts.get('m2')).toBeGreaterThan(20);
    const sticky = [1, 2, 3].map(() => group.pick(() => true, 'sticky')?.clientId);
    expect(new Set(sticky).size).toBe(1);
    const gone = sticky[0];
    const moved = [1, 2, 3].map(() => group.pick((s) => s.clientId !== gone, 'sticky')?.clientId);
    expect(new Set(moved).size).toBe(1);
    expect(moved[0]).not.toBe(gone);
  });

  it('matches in time proportional to depth, not to the number of subscriptions', () => {
    const tree = new TopicTree();
    for (let i = 0; i < 20_000; i++) tree.add(`site/room-${i}/temperature`, sub(`c${i}`, `site/room-${i}/temperature`));
    expect(matches(tree, 'site/room-123/temperature')).toEqual(['c123:site/room-123/temperature']);
  });
});
