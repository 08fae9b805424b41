import { describe, expect, it } from 'vitest';
import { OutboundAliases } from '../../src/connection/outbound-aliases.js';
import { resolveOptions } from '../../src/options.js';

/** Chooses and commits, as a connection does for every PUBLISH it writes. */
function send(aliases: OutboundAliases, topic: string): [number, boolean] {
  const choice = aliases.choose(topic);
  aliases.commit(topic, choice);
  return [choice.alias, choice.known];
}

describe('OutboundAliases', () => {
  it('assigns 1..maximum, then reassigns the least recently used alias', () => {
    const a = new OutboundAliases(2);
    expect(send(a, 'x')).toEqual([1, false]);
    expect(send(a, 'y')).toEqual([2, false]);
    expect(send(a, 'x')).toEqual([1, true]);
    expect(send(a, 'z')).toEqual([2, false]); // y was least recently used
    expect(a.get('y')).toBeUndefined();
    expect(send(a, 'z')).toEqual([2, true]);
    expect(a.size).toBe(2);
  });

  it('changes nothing until a choice is committed', () => {
    const a = new OutboundAliases(1);
    send(a, 'x');
    expect(a.choose('y')).toEqual({ alias: 1, known: false });
    expect(a.get('x')).toBe(1); // y was not sent: the client still maps 1 to x
    expect(send(a, 'x')).toEqual([1, true]);
  });

  it('topicAliasOutbound defaults to true and must be a boolean', () => {
    expect(resolveOptions({}).topicAliasOutbound).toBe(true);
    expect(() => resolveOptions({ topicAliasOutbound: 'yes' as never })).toThrow(/topicAliasOutbound: expected true or false/);
  });
});
