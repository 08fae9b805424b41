import { describe, expect, it } from 'vitest';
import { isReservedTopic, isValidTopicFilter, isValidTopicName, parseSharedFilter } from '../../src/protocol/topic.js';

describe('topic validation', () => {
  it('[MQTT-3.3.2-2] topic names must not contain wildcards', () => {
    expect(isValidTopicName('a/b')).toBe(true);
    expect(isValidTopicName('a/+')).toBe(false);
    expect(isValidTopicName('a/#')).toBe(false);
  });

  it('[MQTT-4.7.3-1] names and filters are at least one character', () => {
    expect(isValidTopicName('')).toBe(false);
    expect(isValidTopicFilter('')).toBe(false);
    expect(isValidTopicName('/')).toBe(true);
  });

  it('[MQTT-4.7.1-2] # must be last and alone in its level', () => {
    expect(isValidTopicFilter('#')).toBe(true);
    expect(isValidTopicFilter('a/#')).toBe(true);
    expect(isValidTopicFilter('a/#/b')).toBe(false);
    expect(isValidTopicFilter('a#')).toBe(false);
  });

  it('[MQTT-4.7.1-3] + must occupy a whole level', () => {
    expect(isValidTopicFilter('+/a/+')).toBe(true);
    expect(isValidTopicFilter('a+')).toBe(false);
    expect(isValidTopicFilter('a/+b')).toBe(false);
  });

  it('rejects U+0000', () => {
    expect(isValidTopicName('a\u0000b')).toBe(false);
    expect(isValidTopicFilter('a\u0000b')).toBe(false);
  });

  it('parses $share/{group}/{filter}', () => {
    expect(parseSharedFilter('a/b')).toBeUndefined();
    expect(parseSharedFilter('$share/g/a/+')).toEqual({ group: 'g', filter: 'a/+' });
    expect(parseSharedFilter('$share/g')).toBeNull();
    expect(parseSharedFilter('$share//a')).toBeNull();
    expect(parseSharedFilter('$share/g+/a')).toBeNull();
    expect(parseSharedFilter('$share/g/a/#/b')).toBeNull();
  });
});

describe('reserved Topic Names (no client may publish to them)', () => {
  it('$SYS/ and the $share prefix are reserved; look-alikes are not', () => {
    for (const t of ['$SYS/broker/uptime', '$share', '$share/g/t', '$share/']) expect(isReservedTopic(t)).toBe(true);
    for (const t of ['$SYS', '$shared/x', 'x/$share/y', 'share/g/t', '$sys/x', 'a']) expect(isReservedTopic(t)).toBe(false);
  });
});
