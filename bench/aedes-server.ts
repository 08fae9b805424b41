import net from 'node:net';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';

/** Starts aedes with default options on host:port and shuts it down on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '1883' } },
  });
  const broker = await Aedes.createBroker();
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

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
