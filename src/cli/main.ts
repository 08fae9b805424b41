#!/usr/bin/env node
import { Broker } from '../broker.js';
import { formatConfig } from '../config/load.js';
import { isBrokerError } from '../errors.js';
import { resolveOptions } from '../options.js';
import { packageVersion } from '../package.js';
import { parseCommandLine, USAGE, UsageError, withCliDefaults } from './args.js';

function fail(message: string, code: number): never {
  process.stderr.write(`midge: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  // Subcommands are imported when run: a broker does not load their modules (e.g. yaml)
  if (process.argv[2] === 'passwd') return void process.stdout.write(`${await (await import('./passwd.js')).runPasswd(process.argv.slice(3))}\n`);
  if (process.argv[2] === 'migrate') {
    const { runMigrate } = await import('./migrate.js');
    process.exitCode = runMigrate(process.argv.slice(3), (t) => process.stdout.write(t), (t) => process.stderr.write(t));
    return;
  }
  if (process.argv[2] === 'admin') return void process.stdout.write(`${await (await import('./admin.js')).runAdmin(process.argv.slice(3))}\n`);
  if (process.argv[2] === 'log') return (await import('./log.js')).runLogCommand(process.argv.slice(3)); // midge log list|read|stat (src/cli/log.ts)
  if (process.argv[2] === 'bench') return process.exit(await (await import('../loadgen/command.js')).runBenchCommand(process.argv.slice(3)));
  const command = parseCommandLine(process.argv.slice(2));
  if (command.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command.kind === 'version') {
    process.stdout.write(`midge ${packageVersion()}\n`);
    return;
  }
  if (command.kind === 'print-config') {
    process.stdout.write(formatConfig(resolveOptions(withCliDefaults(command.options))));
    return;
  }
  const broker = new Broker(withCliDefaults(command.options), { configFile: command.configFile });
  await broker.listen();
  handleSignals(broker);
}

/**
 * Graceful shutdown on SIGTERM/SIGINT: broker.close() stops accepting, sends MQTT 5 clients
 * DISCONNECT 0x8B, saves sessions and flushes and closes the store; the process then exits 0.
 * If that takes longer than shutdownTimeout, or a second signal arrives, it exits 1 at once.
 */
function handleSignals(broker: Broker): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      broker.logger.warn({ signal }, 'second signal: forced exit');
      process.exit(1);
    }
    stopping = true;
    const timeout = broker.options.shutdownTimeout;
    broker.logger.info({ signal, timeoutMs: timeout }, 'stopping');
    setTimeout(() => {
      broker.logger.error({ timeoutMs: timeout }, 'shutdown took too long: forced exit');
      process.exit(1);
    }, timeout).unref();
    broker.close().then(
      () => process.exit(0),
      (err: unknown) => fail(`error while stopping: ${String(err)}`, 1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // SIGHUP rereads the password, ACL and JWKS files, and the config file's `bridges`; connections
  // stay, and a bad file keeps the old rules (or bridges)
  process.on('SIGHUP', () => {
    try {
      broker.reloadSecurity();
    } catch (err) {
      broker.logger.error({ err }, `reload failed, previous rules kept: ${(err as Error).message}`);
    }
    reloadBridges(broker);
  });
}

/** Reads the configuration again (file, environment, flags) and applies its `bridges`. */
function reloadBridges(broker: Broker): void {
  let bridges;
  try {
    const command = parseCommandLine(process.argv.slice(2));
    if (command.kind !== 'run') return;
    bridges = command.options.bridges;
  } catch (err) {
    broker.logger.error({ err }, `bridges reload failed, previous bridges kept: ${(err as Error).message}`);
    return;
  }
  broker.reloadBridges(bridges).catch((err: unknown) => {
    broker.logger.error({ err }, `bridges reload failed, previous bridges kept: ${(err as Error).message}`);
  });
}

main().catch((err: unknown) => {
  // A bad flag, env variable or config value is a usage error, whichever layer found it
  if (err instanceof UsageError || (isBrokerError(err) && err.code === 'ERR_INVALID_OPTION')) fail(err.message, 2);
  if (isBrokerError(err)) fail(err.message, 1);
  fail(err instanceof Error ? err.message : String(err), 1);
});
