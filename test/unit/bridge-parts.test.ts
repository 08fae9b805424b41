import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/bridge/backend.js';
import { decodeRecord, encodeRecord, LOG_KEY } from '../../src/bridge/record.js';
import { matches, Rules } from '../../src/bridge/rules.js';

async function keys(backend: MemoryBackend, range: Parameters<MemoryBackend['entries']>[0]): Promise<string[]> {
  const out: string[] = [];
  for await (const [key] of backend.entries(range)) out.push(key);
  return out;
}

describe('bridge rules', () => {
  it.each([
    ['a/+/c', 'a/b/c', true],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['a/+', 'a/b/c', false],
    ['+/b', '/b', true], // '+' matches an empty level
    ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['a//b', 'a//b', true],
  ])('[MQTT-4.7] %s matches %s: %s', (filter, topic, expected) => {
    expect(matches(filter.split('/'), topic.split('/'))).toBe(expected);
  });

  it('lists each stream once, in rule order, within the QoS restriction', () => {
    const rules = new Rules([
      { filter: 'a/#', stream: 's1', qos: [0, 1, 2] },
      { filter: 'a/b', stream: 's2', qos: [2] },
      { filter: '#', stream: 's1', qos: [0, 1, 2] },
    ]);
    expect(rules.match('a/b', 2)).toEqual(['s1', 's2']);
    expect(rules.match('a/b', 1)).toEqual(['s1']);
    expect(rules.match('z', 0)).toEqual(['s1']);
    expect(new Rules([{ filter: 'x', stream: 's', qos: [1] }]).match('y', 1)).toBeUndefined();
  });
});

describe('log records', () => {
  it('round-trips metadata, MQTT 5 properties and binary payloads', () => {
    const payload = Buffer.from([0, 255, 1, 2]);
    const properties = { contentType: 'a/b', correlationData: Buffer.from([9, 8]), userProperties: { k: ['v1', 'v2'] }, payloadFormatIndicator: false, responseTopic: 'r/t' };
    const value = encodeRecord(1234.5, { topic: 'tö/pic', payload, qos: 2, retain: true, properties });
    expect(decodeRecord('s', 7, value)).toEqual({ stream: 's', offset: 7, timestamp: 1234.5, topic: 'tö/pic', payload, qos: 2, retain: true, properties });
    const plain = encodeRecord(1, { topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, properties: undefined });
    expect(decodeRecord('s', 0, plain)).toMatchObject({ topic: 't', qos: 0, retain: false, properties: undefined });
  });

  it('refuses a damaged record or another version with a clear message', () => {
    const value = encodeRecord(1, { topic: 'topic', payload: Buffer.from('x'), qos: 1, retain: false, properties: undefined });
    expect(() => decodeRecord('s', 3, value.subarray(0, 6))).toThrow('log record s:3 is truncated');
    expect(() => decodeRecord('s', 3, Buffer.concat([Buffer.from([2]), value.subarray(1)]))).toThrow('log record s:3 has version 2; this Midge reads 1');
  });
});

describe('memory log backend', () => {
  it('keeps keys sorted, ranges by offset, deletes from the front and the middle', async () => {
    const b = new MemoryBackend();
    for (let i = 0; i < 3000; i++) b.put(LOG_KEY.record('s', i), Buffer.from([i & 255]));
    b.put(LOG_KEY.meta('s'), Buffer.from('{}'));
    b.put(LOG_KEY.record('a', 0), Buffer.from('a'));
    for (let i = 0; i < 2000; i++) b.del(LOG_KEY.record('s', i));
    b.del(LOG_KEY.record('s', 2500));
    const range = await keys(b, LOG_KEY.records('s', 0, 3000));
    expect(range).toHaveLength(999);
    expect(range[0]).toBe(LOG_KEY.record('s', 2000));
    expect(range.includes(LOG_KEY.record('s', 2500))).toBe(false);
    expect(await keys(b, { ...LOG_KEY.records('s', 0, 3000), reverse: true, limit: 1 })).toEqual([LOG_KEY.record('s', 2999)]);
    expect(await keys(b, LOG_KEY.metas)).toEqual([LOG_KEY.meta('s')]);
    expect(await b.get(LOG_KEY.record('s', 2001))).toEqual(Buffer.from([2001 & 255]));
    expect(await b.get(LOG_KEY.record('s', 1))).toBeUndefined();
    b.put(LOG_KEY.record('s', 2500), Buffer.from('back'));
    expect(await b.get(LOG_KEY.record('s', 2500))).toEqual(Buffer.from('back'));
  });
});
