/**
 * MQTT topics and filters as NATS subjects. Each topic level becomes one subject token, so MQTT
 * wildcards map onto NATS ones: `+` → `*`, and `#` → `>` plus the parent level, since `a/#` also
 * matches `a` [MQTT-4.7.1-2]. A level made only of `A–Z a–z 0–9 _ -` is its own token (readable
 * in `nats sub`); any other level, the empty one included, is `~` followed by its base64url
 * bytes, which NATS accepts in a token and which no plain token starts with. Interest routing only
 * has to be a superset: each node matches what it receives against its own topic tree again.
 */

const PLAIN = /^[A-Za-z0-9_-]+$/;

/** One topic level as a subject token. */
export function levelToken(level: string): string {
  return PLAIN.test(level) ? level : `~${Buffer.from(level).toString('base64url')}`;
}

/** The subject of `topic` under `prefix` (e.g. `midge.live`). */
export function topicSubject(prefix: string, topic: string): string {
  return `${prefix}.${topic.split('/').map(levelToken).join('.')}`;
}

/**
 * The subjects a node subscribes to for an MQTT filter (without `$share/group/`): one, or two for
 * a filter ending in `#`. A filter starting with a wildcard does not match `$` topics [MQTT-4.7.2-1];
 * the subjects may still bring them, and the topic tree leaves them out.
 */
export function filterSubjects(prefix: string, filter: string): string[] {
  const levels = filter.split('/');
  const tokens = levels.map((level) => (level === '+' ? '*' : level === '#' ? '>' : levelToken(level)));
  if (levels[levels.length - 1] !== '#') return [`${prefix}.${tokens.join('.')}`];
  const parent = tokens.slice(0, -1);
  // `#` alone matches every topic: one subject covers them all
  if (parent.length === 0) return [`${prefix}.>`];
  return [`${prefix}.${parent.join('.')}`, `${prefix}.${tokens.join('.')}`];
}

/** Whether NATS delivers a message on `subject` (no wildcards) to a subscription on `pattern` (`*`, `>` allowed). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === '>') return s.length > i;
    if (i >= s.length || (token !== '*' && token !== s[i])) return false;
  }
  return p.length === s.length;
}
