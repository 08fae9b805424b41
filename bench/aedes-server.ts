import net from 'node:net';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';
import aedesPersistenceLevel from 'aedes-persistence-level';
import { Level } from 'level';

/**
 * Starts aedes on host:port and shuts it down on SIGTERM/SIGINT. `--persistence memory` (the
 * default) keeps aedes's default in-memory persistence; `--persistence level --db DIR` uses
 * aedes-persistence-level over a LevelDB database in DIR, with that module's default write
 * options (no sync: writes reach the OS page cache, not necessarily the disk).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '1883' },
      persistence: { type: 'string', default: 'memory' },
      db: { type: 'string' },
    },
  });
  const persistence = createPersistence(values.persistence, values.db);
  const broker = await Aedes.createBroker(persistence === undefined ? {} : { persistence });
  const server = net.createServer(broker.handle);
  server.listen(Number(values.port), values.host);
  const shutdown = (): void => {
    server.close();
    broker.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

/** The persistence to pass to aedes, or undefined for its built-in in-memory one. */
function createPersistence(kind: string, db: string | undefined): unknown {
  if (kind === 'memory') return undefined;
  if (kind === 'level' && db !== undefined) return aedesPersistenceLevel(new Level(db));
  throw new Error(`--persistence must be memory, or level with --db DIR (got ${kind})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
