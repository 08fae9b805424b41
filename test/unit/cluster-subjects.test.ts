import { describe, expect, it } from 'vitest';
import { filterSubjects, levelToken, topicSubject } from '../../src/cluster/subjects.js';

describe('cluster subjects: MQTT topics and filters as NATS subjects', () => {
  it('keeps plain levels readable and encodes every other level so that it is one safe token', () => {
    expect(topicSubject('m.live', 'room/1/temp')).toBe('m.live.room.1.temp');
    for (const level of ['', 'a.b', 'a b', '*', '>', 'ü', '~x', '$SYS']) {
      const token = levelToken(level);
      expect(token).toMatch(/^~[A-Za-z0-9_-]*$/);
      expect(Buffer.from(token.slice(1), 'base64url').toString()).toBe(level);
    }
    // Distinct levels give distinct tokens, so distinct topics give distinct subjects
    expect(topicSubject('p', 'a/b')).not.toBe(topicSubject('p', 'a.b'));
    expect(topicSubject('p', '/x')).toBe('p.~.x');
  });

  it('[MQTT-4.7.1-2] maps + to * and # to > plus its parent level, since a/# matches a', () => {
    expect(filterSubjects('p', 'a/+/c')).toEqual(['p.a.*.c']);
    expect(filterSubjects('p', 'a/#')).toEqual(['p.a', 'p.a.>']);
    expect(filterSubjects('p', '+/#')).toEqual(['p.*', 'p.*.>']);
    expect(filterSubjects('p', '#')).toEqual(['p.>']);
    expect(filterSubjects('p', 'a b/#')).toEqual([`p.${levelToken('a b')}`, `p.${levelToken('a b')}.>`]);
  });
});
