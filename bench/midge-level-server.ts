import { parseArgs } from 'node:util';
import { createBroker } from '../src/index.js';
import { TimedLevelStore } from './timed-store.js';

/**
 * Runs Midge from the compiled dist/src with a LevelDB store (fsync durability) passed in as an
 * object, so the benchmark can read the store's commit figures, which the broker does not expose
 * over the network. Answers `{ type: 'counters' }` on its IPC channel with a CommitCounters; shuts
 * down on SIGTERM, SIGINT or when the parent goes away.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '1883' },
      'data-dir': { type: 'string', default: './data' },
    },
  });
  const store = new TimedLevelStore(values['data-dir'], 'fsync');
  const broker = createBroker({ host: values.host, port: Number(values.port), wsPort: -1, httpPort: -1, store, logLevel: 'silent' });
  await broker.listen();
  process.on('message', (request: unknown) => {
    if (isCountersRequest(request)) process.send?.(store.counters());
  });
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 2000).unref();
    broker.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  process.once('disconnect', shutdown);
}

/** Whether an IPC message asks for the counters. */
function isCountersRequest(request: unknown): boolean {
  return typeof request === 'object' && request !== null && (request as { type?: unknown }).type === 'counters';
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
