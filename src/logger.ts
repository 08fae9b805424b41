import { pino, type DestinationStream, type Logger } from 'pino';

/** How log entries are written. */
export type LogFormat = 'json' | 'text';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const SKIPPED = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname']);

/** The broker's pino logger: pino's JSON lines, or one readable line per entry (`text`). */
export function createLogger(level: string, format: LogFormat, out: NodeJS.WritableStream = process.stdout): Logger {
  const options = { level, base: { name: 'midge' } };
  if (format === 'json') return pino(options);
  const stream: DestinationStream = { write: (line: string) => out.write(`${textLine(line)}\n`) };
  return pino(options, stream);
}

/** One pino JSON entry as `time LEVEL message key=value …`. */
export function textLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd(); // not JSON: pass it through as it came
  }
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString() : '';
  const level = LEVEL_NAMES[entry.level as number] ?? String(entry.level);
  const fields = Object.entries(entry)
    .filter(([key]) => !SKIPPED.has(key))
    .map(([key, value]) => `${key}=${fieldValue(value)}`);
  return [time, level.padEnd(5), String(entry.msg ?? ''), ...fields].join(' ');
}

function fieldValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'object' && value !== null && 'message' in value) {
    const err = value as { message?: unknown; code?: unknown; type?: unknown };
    return JSON.stringify(err.code ? `${String(err.code)}: ${String(err.message)}` : String(err.message));
  }
  return JSON.stringify(value) ?? String(value);
}
