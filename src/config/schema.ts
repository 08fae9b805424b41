import { z } from 'zod';
import { optionEntries, type Field } from './table.js';

/**
 * The options a config file, the environment or a flag can set (everything but the programmatic
 * logger, plugins and Store object), as generated from the options table (table.ts).
 */
export const CONFIG_FIELDS: Record<string, Field> = Object.fromEntries(optionEntries().map(([key, spec]) => [key, spec.field]));

const PROGRAMMATIC_FIELDS: Record<string, Field> = {
  logger: { schema: z.custom((v) => typeof v === 'object' && v !== null && typeof (v as { info?: unknown }).info === 'function'), expected: 'a pino logger' },
  plugins: { schema: z.array(z.custom((v) => typeof v === 'object' && v !== null)), expected: 'an array of plugin objects' },
  store: {
    schema: z.union([z.enum(['level', 'memory']), z.custom((v) => typeof v === 'object' && v !== null && typeof (v as { open?: unknown }).open === 'function')]),
    expected: 'level|memory or a Store object',
  },
};

function objectOf(fields: Record<string, Field>): z.ZodType {
  return z.strictObject(Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.schema.optional()])));
}

const BROKER_FIELDS = { ...CONFIG_FIELDS, ...PROGRAMMATIC_FIELDS };
/** Every option a file, env var or flag may set; all optional, unknown keys refused. */
export const configSchema = objectOf(CONFIG_FIELDS);
/** What `createBroker` accepts: the config options plus a logger, plugins and a Store object. */
export const brokerOptionsSchema = objectOf(BROKER_FIELDS);

/** One line per problem: `key.path: expected …, found …`, or an unknown key with the closest known one. */
export function describeIssues(schema: z.ZodType, input: unknown, issues: readonly z.core.$ZodIssue[], name = keyPath): string[] {
  return issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys
        .map((key) => {
          const known = knownKeysAt(schema, issue.path);
          const hint = closest(key, known);
          return `${name([...issue.path, key])}: unknown option${hint ? ` (did you mean ${name([...issue.path, hint])}?)` : ''}`;
        })
        .join('; ');
    }
    const top = typeof issue.path[0] === 'string' && issue.path.length === 1 ? issue.path[0] : undefined;
    const field = top === undefined ? undefined : (schema === configSchema ? CONFIG_FIELDS : BROKER_FIELDS)[top];
    const expected = field?.expected ?? issue.message.replace(/^Invalid input: /, '');
    return `${name(issue.path)}: expected ${expected}, found ${show(valueAt(input, issue.path))}`;
  });
}

/** `a.b[0].c` from a zod path. */
export function keyPath(path: readonly PropertyKey[]): string {
  return path.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : i === 0 ? String(seg) : `.${String(seg)}`)).join('');
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'function') return 'a function';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const seg of path) v = typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[seg] : undefined;
  return v;
}

type Shaped = { shape?: Record<string, z.ZodType>; element?: z.ZodType; unwrap?: () => z.ZodType };

function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const unwrap = (s: z.ZodType | undefined): Shaped | undefined => {
    let cur = s as Shaped | undefined;
    for (let i = 0; i < 8 && cur?.unwrap && !cur.shape; i++) cur = cur.unwrap() as Shaped;
    return cur;
  };
  let s = unwrap(schema);
  for (const seg of path) {
    s = unwrap(typeof seg === 'number' ? s?.element : s?.shape?.[String(seg)]);
    if (!s) return [];
  }
  return s?.shape ? Object.keys(s.shape) : [];
}

/** The known key nearest to `key` (ignoring case, `_` and `-`), when it is near enough to be a typo. */
export function closest(key: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(norm(key), norm(candidate));
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost));
    }
    prev = cur;
  }
  return prev[b.length] as number;
}
