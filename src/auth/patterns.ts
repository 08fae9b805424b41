/**
 * Topic patterns for access rules: MQTT filters compared with topic names and with other filters.
 * Wildcards at the first level do not match topics that start with '$' [MQTT-4.7.2-1].
 */

/** True when some topic name matches both filters (a topic name is a filter without wildcards). */
export function intersects(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; ; i++) {
    const x = a[i];
    const y = b[i];
    if (x === '#' || y === '#') return i > 0 || !startsWithDollar(x === '#' ? y : x);
    if (x === undefined || y === undefined) return x === y;
    if (x === '+' || y === '+') {
      if (i === 0 && startsWithDollar(x === '+' ? y : x)) return false;
      continue;
    }
    if (x !== y) return false;
  }
}

/** True when every topic name that matches `filter` also matches `pattern`. */
export function covers(pattern: readonly string[], filter: readonly string[]): boolean {
  for (let i = 0; ; i++) {
    const x = pattern[i];
    const y = filter[i];
    if (x === '#') return i > 0 || !startsWithDollar(y);
    if (y === undefined || x === undefined) return x === y;
    if (y === '#') return false;
    if (x === '+') {
      if (i === 0 && startsWithDollar(y)) return false;
      continue;
    }
    if (y === '+' || x !== y) return false;
  }
}

/** True when the topic name `topic` matches the filter `pattern`. */
export function matches(pattern: readonly string[], topic: readonly string[]): boolean {
  return intersects(pattern, topic);
}

function startsWithDollar(level: string | undefined): boolean {
  return level !== undefined && level !== '+' && level !== '#' && level.startsWith('$');
}

/**
 * Replaces %u (username) and %c (client id) in a pattern. Returns undefined when a needed value is
 * missing, or contains a wildcard or '/', which would widen the rule to other clients' topics.
 */
export function substitute(pattern: string, username: string | undefined, clientId: string): string | undefined {
  if (!pattern.includes('%')) return pattern;
  const safe = (v: string | undefined) => v !== undefined && v !== '' && !/[+#/]/.test(v);
  if (pattern.includes('%u') && !safe(username)) return undefined;
  if (pattern.includes('%c') && !safe(clientId)) return undefined;
  return pattern.replaceAll('%u', username ?? '').replaceAll('%c', clientId);
}
