/** What logs and `--print-config` show instead of a secret. */
export const REDACTED = '<redacted>';

/** Keys whose values are secrets wherever they appear (sink and bridge credentials too). */
const SECRET_KEY = /pass(word|phrase)?$|secret|token|credential|private.?key|^sasl$|^auth$/i;

/** `redis://user:pw@host` → `redis://user:<redacted>@host`. */
export function redactUrl(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@/\s]+@/i, `$1:${REDACTED}@`);
}

/** A copy of `value` with secrets replaced: values of secret-named keys, and passwords inside URLs. */
export function redacted(value: unknown, depth = 0): unknown {
  if (depth > 16) return value;
  if (typeof value === 'string') return redactUrl(value);
  if (Array.isArray(value)) return value.map((v) => redacted(v, depth + 1));
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, SECRET_KEY.test(k) && v !== '' && v !== undefined && v !== null ? REDACTED : redacted(v, depth + 1)]),
  );
}
