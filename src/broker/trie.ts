/**
 * The walk and the pruning shared by the two tries keyed by topic level: the subscription tree
 * (topic-tree.ts) and the retained index (retained.ts).
 */

/** A trie node: its children by topic level. */
export interface TrieNode<N> {
  readonly children: Map<string, N>;
}

/** The nodes from `root` along `levels` (root first, so `levels.length + 1` of them), or undefined where a level is missing. */
export function trieBranch<N extends TrieNode<N>>(root: N, levels: readonly string[]): N[] | undefined {
  const path: N[] = [root];
  let node = root;
  for (const level of levels) {
    const child = node.children.get(level);
    if (!child) return undefined;
    path.push(child);
    node = child;
  }
  return path;
}

/**
 * Removes the empty nodes at the end of a branch (from `trieBranch`), deepest first, up to the
 * first that `isEmpty` says holds something (the root always stays), so that a trie holds no
 * node without content below it.
 */
export function pruneBranch<N extends TrieNode<N>>(branch: readonly N[], levels: readonly string[], isEmpty: (node: N) => boolean): void {
  for (let i = levels.length; i > 0 && isEmpty(branch[i] as N); i--) {
    (branch[i - 1] as N).children.delete(levels[i - 1] as string);
  }
}
