import type { JetStreamManager, StreamConfig } from 'nats';

/** JetStream names under a cluster prefix: upper case, with anything but `A-Z 0-9 _ -` as `_`. */
export function streamBase(prefix: string): string {
  return prefix.toUpperCase().replace(/[^A-Z0-9_-]/g, '_');
}

/**
 * Creates a stream unless it exists. Several nodes start at once: one that loses the race to
 * create it finds it in use, which is success. An existing stream keeps its configuration.
 */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (err) {
    if (!/not found/i.test((err as Error).message)) throw err;
    await jsm.streams.add(config).catch((addErr: unknown) => {
      if (!/already in use|exists/i.test((addErr as Error).message)) throw addErr;
    });
  }
}
