import { readFileOrThrow } from '../read-file.js';
import { BrokerError } from '../errors.js';
import type { ClientInfo, Message } from '../model.js';
import type { Plugin, SubscriptionRequestInfo } from '../hooks.js';
import { parseFilter } from '../protocol/topic.js';
import { covers, intersects, matches, substitute } from './patterns.js';

/** What a rule grants; 'deny' takes precedence over every grant. */
export type Access = 'read' | 'write' | 'readwrite' | 'deny';

/** Who a rule applies to. */
export type Scope = { kind: 'everyone' } | { kind: 'user'; name: string } | { kind: 'client'; id: string };

/** One line of an ACL file. */
export interface AclRule {
  readonly scope: Scope;
  readonly access: Access;
  /** A topic filter, possibly with %u and %c. */
  readonly pattern: string;
}

const ACCESS = new Set<string>(['read', 'write', 'readwrite', 'deny']);
const CACHE_LIMIT = 10_000;

/**
 * Parses an ACL file (format in the README): `user NAME`, `client ID` and `everyone` open a section;
 * `topic [ACCESS] FILTER` adds a rule to it (rules before any section apply to everyone);
 * `pattern [ACCESS] FILTER` always applies to everyone. An unreadable line throws ERR_SECURITY_FILE naming file and line.
 */
export function parseAcl(text: string, file: string): AclRule[] {
  const rules: AclRule[] = [];
  let scope: Scope = { kind: 'everyone' };
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fail = (why: string) => new BrokerError('ERR_SECURITY_FILE', `${file}:${index + 1}: ${why}`);
    const [keyword = '', ...rest] = line.split(/\s+/);
    // A '#' after whitespace starts an end-of-line comment; inside a filter ("a/#") it is a wildcard
    const argument = withoutComment(line.slice(keyword.length).trim());
    if (keyword === 'user' || keyword === 'client') {
      if (argument === '') throw fail(`"${keyword}" needs a name`);
      scope = keyword === 'user' ? { kind: 'user', name: argument } : { kind: 'client', id: argument };
    } else if (keyword === 'everyone') {
      if (argument !== '') throw fail('"everyone" takes no argument');
      scope = { kind: 'everyone' };
    } else if (keyword === 'topic' || keyword === 'pattern') {
      // ACCESS FILTER or FILTER, then at most a comment. A lone trailing "#" is no comment (it is
      // the wildcard of "topic read #"), so "topic maybe #" stays an unknown access, not a comment
      const comment = (i: number) => (rest[i] ?? '').startsWith('#') && ((rest[i] as string).length > 1 || rest.length > i + 1);
      const first = rest[0] ?? '';
      const hasAccess = rest.length > 1 && (ACCESS.has(first) || !comment(1));
      const access = hasAccess ? first : 'readwrite';
      if (!ACCESS.has(access)) throw fail(`unknown access "${access}" (read, write, readwrite or deny)`);
      const start = hasAccess ? 1 : 0;
      const pattern = rest[start] ?? '';
      if (pattern === '' || (rest.length > start + 1 && !comment(start + 1))) throw fail('expected one topic filter (a comment starts with " #")');
      if (parseFilter(pattern.replaceAll('%u', 'u').replaceAll('%c', 'c')) === null) throw fail(`invalid topic filter "${pattern}"`);
      rules.push({ scope: keyword === 'pattern' ? { kind: 'everyone' } : scope, access: access as Access, pattern });
    } else {
      throw fail(`unknown keyword "${keyword}" (user, client, everyone, topic or pattern)`);
    }
  }
  return rules;
}

/** `text` without an end-of-line comment: from the first '#' that follows whitespace. */
function withoutComment(text: string): string {
  if (text.startsWith('#')) return '';
  const at = text.search(/\s#/);
  return (at < 0 ? text : text.slice(0, at)).trim();
}

interface Compiled {
  readonly access: Access;
  readonly levels: readonly string[];
}

/**
 * The ACL plugin: deny by default. PUBLISH needs a write rule matching the topic, SUBSCRIBE a read
 * rule that some topic of the filter can match (no deny rule covering it), and each delivery a read
 * rule matching the message's topic (checked when it is sent, so `#` brings only what may be read).
 */
export class AclPlugin implements Plugin {
  readonly name = 'acl-file';
  readonly #file: string;
  #rules: AclRule[];
  /** Compiled rules per client (id and username), rebuilt on reload; bounded. */
  readonly #cache = new Map<string, Compiled[]>();

  constructor(file: string) {
    this.#file = file;
    this.#rules = AclPlugin.load(file);
  }

  /** Reads and parses an ACL file; throws ERR_SECURITY_FILE. */
  static load(file: string): AclRule[] {
    return parseAcl(readFileOrThrow(file, 'ACL', 'ERR_SECURITY_FILE'), file);
  }

  /** Rereads the file and returns what installs it; throws ERR_SECURITY_FILE (the current rules stay). */
  prepareReload(): () => void {
    const rules = AclPlugin.load(this.#file);
    return () => {
      this.#rules = rules;
      this.#cache.clear();
    };
  }

  /** Number of rules loaded. */
  get size(): number {
    return this.#rules.length;
  }

  authorizePublish(client: ClientInfo, message: Message): boolean {
    return this.#check(client, message.topic.split('/'), 'write', matches);
  }

  authorizeSubscribe(client: ClientInfo, sub: SubscriptionRequestInfo): boolean {
    const parsed = parseFilter(sub.filter);
    if (parsed === null) return false;
    const levels = parsed.filter.split('/');
    const rules = this.#rulesFor(client);
    if (rules.some((r) => r.access === 'deny' && covers(r.levels, levels))) return false;
    return rules.some((r) => grants(r.access, 'read') && intersects(r.levels, levels));
  }

  authorizeRead(client: ClientInfo, message: Message): boolean {
    return this.#check(client, message.topic.split('/'), 'read', matches);
  }

  onDisconnected(client: ClientInfo): void {
    this.#cache.delete(cacheKey(client));
  }

  #check(client: ClientInfo, topic: string[], want: 'read' | 'write', test: typeof matches): boolean {
    let granted = false;
    for (const r of this.#rulesFor(client)) {
      if (!test(r.levels, topic)) continue;
      if (r.access === 'deny') return false;
      if (grants(r.access, want)) granted = true;
    }
    return granted;
  }

  #rulesFor(client: ClientInfo): Compiled[] {
    const key = cacheKey(client);
    let compiled = this.#cache.get(key);
    if (compiled) return compiled;
    compiled = [];
    for (const rule of this.#rules) {
      if (!applies(rule.scope, client)) continue;
      const pattern = substitute(rule.pattern, client.username, client.id);
      if (pattern !== undefined) compiled.push({ access: rule.access, levels: pattern.split('/') });
    }
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(key, compiled);
    return compiled;
  }
}

function grants(access: Access, want: 'read' | 'write'): boolean {
  return access === 'readwrite' || access === want;
}

function applies(scope: Scope, client: ClientInfo): boolean {
  if (scope.kind === 'everyone') return true;
  if (scope.kind === 'user') return client.username === scope.name;
  return client.id === scope.id;
}

function cacheKey(client: ClientInfo): string {
  return `${client.id}\u0000${client.username ?? '\u0000'}`;
}
