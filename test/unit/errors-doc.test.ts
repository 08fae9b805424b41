/** docs/errors.md documents exactly the codes of the registry in src/errors.ts, each with its reason code. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, type ErrorCodeName } from '../../src/errors.js';

const DOC = 'docs/errors.md';
const text = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

/** The table rows of the doc: `| \`ERR_X\` | 0x87 Name | ... |` → code and reason code. */
function documented(): Map<string, number> {
  const rows = new Map<string, number>();
  for (const line of text.split('\n')) {
    const row = /^\|\s*`(ERR_[A-Z0-9_]+)`\s*\|\s*0x([0-9A-Fa-f]{2})\b/.exec(line);
    if (!row) continue;
    if (rows.has(row[1] as string)) throw new Error(`${DOC} lists ${row[1]} twice`);
    rows.set(row[1] as string, Number.parseInt(row[2] as string, 16));
  }
  return rows;
}

describe(DOC, () => {
  const rows = documented();
  const registered = Object.keys(ErrorCode) as ErrorCodeName[];

  it('documents every ERR_* code of src/errors.ts', () => {
    const missing = registered.filter((code) => !rows.has(code));
    expect(missing, `codes in src/errors.ts without a row in ${DOC}`).toEqual([]);
  });

  it('documents no code that src/errors.ts does not have', () => {
    const gone = [...rows.keys()].filter((code) => !(code in ErrorCode));
    expect(gone, `rows in ${DOC} for codes that are not in src/errors.ts`).toEqual([]);
  });

  it('gives each code the reason code it has in src/errors.ts', () => {
    const wrong = registered
      .filter((code) => rows.has(code) && rows.get(code) !== ErrorCode[code].reason)
      .map((code) => `${code}: documented 0x${(rows.get(code) as number).toString(16)}, registered 0x${ErrorCode[code].reason.toString(16)}`);
    expect(wrong).toEqual([]);
  });

  it('mentions no ERR_* code outside its tables that the registry lacks', () => {
    const mentioned = new Set(text.match(/\bERR_[A-Z0-9_]+\b/g) ?? []);
    expect([...mentioned].filter((code) => !(code in ErrorCode))).toEqual([]);
  });
});
