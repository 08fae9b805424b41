import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { PrettyOptions } from 'pino-pretty';

/** How log entries are written: `auto` is `text` when standard output is a terminal, `json` otherwise. */
export type LogFormat = 'auto' | 'json' | 'text';

/** The format `auto` stands for on this output. */
export function effectiveLogFormat(format: LogFormat, out: NodeJS.WritableStream = process.stdout): 'json' | 'text' {
  if (format !== 'auto') return format;
  return (out as { isTTY?: boolean }).isTTY === true ? 'text' : 'json';
}

/**
 * The broker's pino logger: pino's JSON lines, or (`text`) pino-pretty's readable lines with local
 * timestamps, in colour on a terminal. pino-pretty is loaded only when text is asked for.
 */
export function createLogger(level: string, format: LogFormat, out: NodeJS.WritableStream = process.stdout): Logger {
  const options = { level, base: { name: 'midge' } };
  if (effectiveLogFormat(format, out) === 'json') return out === process.stdout ? pino(options) : pino(options, out as DestinationStream);
  // pino names its error key to pino-pretty, which prints that key over several lines: `err` must not be it
  return pino({ ...options, errorKey: 'error' }, prettyStream(out));
}

function prettyStream(out: NodeJS.WritableStream): DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as (options: PrettyOptions) => DestinationStream;
  return pretty({
    destination: out,
    colorize: (out as { isTTY?: boolean }).isTTY === true,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'pid,hostname,name',
    singleLine: true,
    // An error stays on its entry's line too (its stack as a JSON string), so one entry is one line
    errorLikeObjectKeys: [],
    sync: true,
  });
}
