import { describe, expect, it } from 'vitest';
import { pruneBranch, trieBranch, type TrieNode } from '../../src/broker/trie.js';

class Node implements TrieNode<Node> {
  readonly children = new Map<string, Node>();
  value: string | undefined;
}

/** A trie holding `values` by topic. */
function trie(values: Record<string, string>): Node {
  const root = new Node();
  for (const [topic, value] of Object.entries(values)) {
    let node = root;
    for (const level of topic.split('/')) {
      let child = node.children.get(level);
      if (!child) node.children.set(level, (child = new Node()));
      node = child;
    }
    node.value = value;
  }
  return root;
}

const isEmpty = (n: Node) => n.value === undefined && n.children.size === 0;

/** Every topic that has a node, in insertion order. */
function topics(node: Node, prefix = ''): string[] {
  return [...node.children].flatMap(([level, child]) => {
    const topic = prefix === '' ? level : `${prefix}/${level}`;
    return [topic, ...topics(child, topic)];
  });
}

describe('trieBranch', () => {
  it('returns the root and one node per level, or undefined when a level is missing', () => {
    const root = trie({ 'a/b/c': 'x' });
    const branch = trieBranch(root, ['a', 'b', 'c']);
    expect(branch).toHaveLength(4);
    expect(branch?.[0]).toBe(root);
    expect(branch?.[3]?.value).toBe('x');
    expect(trieBranch(root, ['a', 'x'])).toBeUndefined();
    expect(trieBranch(root, ['a', 'b', 'c', 'd'])).toBeUndefined();
  });

  it('an empty topic level is a level like any other', () => {
    const root = trie({ '/a': 'x' });
    expect(trieBranch(root, ['', 'a'])?.[2]?.value).toBe('x');
  });
});

describe('pruneBranch', () => {
  it('removes the emptied nodes up to the first that still holds a value', () => {
    const root = trie({ a: 'kept', 'a/b/c/d': 'gone' });
    const levels = ['a', 'b', 'c', 'd'];
    const branch = trieBranch(root, levels) as Node[];
    (branch[4] as Node).value = undefined;
    pruneBranch(branch, levels, isEmpty);
    expect(topics(root)).toEqual(['a']);
  });

  it('stops at a node that still has other children', () => {
    const root = trie({ 'a/b/c': 'gone', 'a/x': 'kept' });
    const levels = ['a', 'b', 'c'];
    const branch = trieBranch(root, levels) as Node[];
    (branch[3] as Node).value = undefined;
    pruneBranch(branch, levels, isEmpty);
    expect(topics(root)).toEqual(['a', 'a/x']);
  });

  it('removes nothing while the deepest node holds something, and never the root', () => {
    const root = trie({ 'a/b': 'x' });
    pruneBranch(trieBranch(root, ['a', 'b']) as Node[], ['a', 'b'], isEmpty);
    expect(topics(root)).toEqual(['a', 'a/b']);
    const single = trie({ a: 'x' });
    const branch = trieBranch(single, ['a']) as Node[];
    (branch[1] as Node).value = undefined;
    pruneBranch(branch, ['a'], isEmpty);
    expect(single.children.size).toBe(0);
    expect(branch[0]).toBe(single);
  });
});
