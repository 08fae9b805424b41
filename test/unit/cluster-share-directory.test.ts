import { describe, expect, it } from 'vitest';
import { EVERY_TOPIC, ShareDirectory, type SharesSource } from '../../src/cluster/share-directory.js';

/** The nodes bucket's watch as the directory reads it: announced filters and a generation. */
function source(): SharesSource & { initialized: boolean; set(filters: string[]): void } {
  let filters: string[] = [];
  let generation = 0;
  return {
    initialized: true,
    get sharesGeneration() {
      return generation;
    },
    sharedFilters: () => filters,
    set(next) {
      filters = next;
      generation++;
    },
  };
}

describe('the shared-filter directory (QoS 0 frames)', () => {
  it('batches every topic while no node announces a shared group, and none before the nodes bucket was read', () => {
    const directory = new ShareDirectory();
    expect(directory.batchable('a/b')).toBe(false); // not started
    const nodes = source();
    nodes.initialized = false;
    directory.start(nodes);
    expect(directory.batchable('a/b')).toBe(false);
    nodes.initialized = true;
    expect(directory.batchable('a/b')).toBe(true);
  });

  it('sends a topic that an announced or local filter matches one message per NATS message, as soon as the announcement changes', () => {
    const directory = new ShareDirectory();
    const nodes = source();
    directory.start(nodes);
    expect(directory.batchable('jobs/1')).toBe(true);
    nodes.set(['jobs/+']);
    expect(directory.batchable('jobs/1')).toBe(false);
    expect(directory.batchable('other/1')).toBe(true);
    expect(directory.setLocal(['other/#', 'other/#'])).toEqual(['other/#']);
    expect(directory.setLocal(['other/#'])).toBeUndefined(); // unchanged: nothing to announce
    expect(directory.batchable('other/1')).toBe(false);
    nodes.set([]);
    expect(directory.batchable('jobs/1')).toBe(true);
    expect(directory.batchable('$SYS/x')).toBe(true); // a wildcard does not match a $ topic [MQTT-4.7.2-1]
  });

  it('announces "every topic" beyond 1,000 filters', () => {
    const directory = new ShareDirectory();
    const many = Array.from({ length: 1001 }, (_, i) => `f/${i}`);
    expect(directory.setLocal(many)).toEqual([EVERY_TOPIC]);
    const nodes = source();
    directory.start(nodes);
    expect(directory.batchable('anything/at/all')).toBe(false);
  });
});
