/** Topic names and filters (MQTT 3.1.1 section 4.7, MQTT 5.0 section 4.7). */

/** Maximum length of an MQTT UTF-8 string in bytes. */
const MAX_STRING_BYTES = 65535;

/** True when `topic` is a valid topic name for PUBLISH. */
export function isValidTopicName(topic: string): boolean {
  if (topic.length === 0) return false; // [MQTT-4.7.3-1]
  // A UTF-16 unit is at most 3 UTF-8 bytes, so only long topics need measuring
  if (topic.length > MAX_STRING_BYTES / 3 && Buffer.byteLength(topic) > MAX_STRING_BYTES) return false;
  // [MQTT-3.3.2-2] wildcards are not allowed in topic names
  return !topic.includes('+') && !topic.includes('#') && !topic.includes('\u0000');
}

/**
 * True for a Topic Name no client may publish to, as in Mosquitto: `$SYS/...` belongs to the broker,
 * and `$share` is the shared-subscription prefix, which no subscription can match as a topic (MQTT 5
 * section 4.7.2: the Server SHOULD prevent clients from using such names to exchange messages).
 */
export function isReservedTopic(topic: string): boolean {
  if (topic.charCodeAt(0) !== 0x24) return false; // '$': the usual topic costs one comparison
  return topic.startsWith('$SYS/') || topic === '$share' || topic.startsWith('$share/');
}

/** True when `filter` is a valid topic filter for SUBSCRIBE / UNSUBSCRIBE (shared prefix removed). */
export function isValidTopicFilter(filter: string): boolean {
  if (filter.length === 0) return false; // [MQTT-4.7.3-1]
  if (filter.includes('\u0000') || Buffer.byteLength(filter) > MAX_STRING_BYTES) return false;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    if (level.includes('#')) {
      // [MQTT-4.7.1-2] '#' must be alone in its level and the last level
      if (level !== '#' || i !== levels.length - 1) return false;
    } else if (level.includes('+') && level !== '+') {
      return false; // [MQTT-4.7.1-3] '+' must occupy a whole level
    }
  }
  return true;
}

/** A parsed `$share/{group}/{filter}` subscription. */
export interface SharedFilter {
  readonly group: string;
  readonly filter: string;
}

/**
 * Parses a filter from SUBSCRIBE or UNSUBSCRIBE: the group (for `$share/`) and the filter to match,
 * or null when it is not a valid filter [MQTT-4.7.1-1] [MQTT-4.8.2-1].
 */
export function parseFilter(filter: string): { readonly group: string | undefined; readonly filter: string } | null {
  const shared = parseSharedFilter(filter);
  if (shared === null) return null;
  if (shared === undefined) return isValidTopicFilter(filter) ? { group: undefined, filter } : null;
  return shared;
}

/**
 * Parses a shared subscription filter. Returns undefined for an ordinary filter,
 * null for a malformed `$share/` filter [MQTT-4.8.2-1] [MQTT-4.8.2-2].
 */
export function parseSharedFilter(filter: string): SharedFilter | null | undefined {
  if (!filter.startsWith('$share/')) return undefined;
  const rest = filter.slice('$share/'.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return null;
  const group = rest.slice(0, slash);
  if (group.includes('+') || group.includes('#')) return null;
  const inner = rest.slice(slash + 1);
  if (!isValidTopicFilter(inner)) return null;
  return { group, filter: inner };
}

/** True when a topic name or filter is longer than `maxBytes` UTF-8 bytes or has more than `maxLevels` levels. */
export function exceedsTopicLimits(topic: string, maxBytes: number, maxLevels: number): boolean {
  if (topic.length > maxBytes) return true; // every UTF-16 unit is at least one UTF-8 byte
  if (topic.length * 3 > maxBytes && Buffer.byteLength(topic) > maxBytes) return true;
  let levels = 1;
  for (let i = topic.indexOf('/'); i !== -1; i = topic.indexOf('/', i + 1)) {
    if (++levels > maxLevels) return true;
  }
  return false;
}
