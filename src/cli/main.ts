#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Broker } from '../broker.js';
import { isBrokerError } from '../errors.js';
import { parseCommandLine, USAGE, UsageError } from './args.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function fail(message: string, code: number): never {
  process.stderr.write(`midge: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  if (process.argv[2] === 'bench') return process.exit(await (await import('../bench/command.js')).runBenchCommand(process.argv.slice(3)));
  const command = parseCommandLine(process.argv.slice(2));
  if (command.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command.kind === 'version') {
    process.stdout.write(`midge ${version()}\n`);
    return;
  }
  const broker = new Broker(command.options);
  await broker.listen();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    broker.logger.info({ signal }, 'stopping');
    broker.close().then(
      () => process.exit(0),
      (err: unknown) => fail(`error while stopping: ${String(err)}`, 1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) fail(err.message, 2);
  if (isBrokerError(err)) fail(err.message, 1);
  fail(err instanceof Error ? err.message : String(err), 1);
});
