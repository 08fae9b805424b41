import { describe, expect, it } from 'vitest';
import { parseCommandLine, USAGE } from '../../src/cli/args.js';
import { CONFIG_FIELDS } from '../../src/config/schema.js';
import { flagOf, optionEntries, OPTIONS } from '../../src/config/table.js';
import { DEFAULTS, type BrokerOptions } from '../../src/options.js';

describe('the options table generates the schema, the flags and the help', () => {
  it('every option of the table is in the schema, and every default in DEFAULTS is the table default', () => {
    expect(Object.keys(CONFIG_FIELDS).sort()).toEqual(Object.keys(OPTIONS).sort());
    for (const [key, spec] of optionEntries()) {
      if (key === 'store' || key === 'bridge' || key === 'cluster' || key === 'bridges') continue;
      expect((DEFAULTS as Record<string, unknown>)[key], key).toEqual(spec.default);
      expect(spec.field.schema.safeParse(spec.default).success, `${key}'s default passes its own schema`).toBe(true);
    }
  });

  it('--help lists every flag with the default the code uses (issue 18, defect 2)', () => {
    expect(USAGE).toMatch(/--max-connections N +open connections in total \(0 = no limit\) \(default 50000\)/);
    for (const [key, spec] of optionEntries()) {
      const flag = flagOf(key);
      if (flag === undefined) continue;
      const value = spec.cliDefault ?? spec.default;
      const line = USAGE.split('\n').findIndex((l) => l.includes(`--${flag} `) || l.endsWith(`--${flag}`) || l.includes(`--[no-]${flag}`));
      expect(line, `--${flag} in the help`).toBeGreaterThan(-1);
      const entry = USAGE.split('\n').slice(line, line + 3).join(' ');
      if (typeof value === 'number' || (typeof value === 'string' && value !== '')) expect(entry, flag).toContain(`(default ${String(value)})`);
    }
  });

  it('every flag sets its option, and booleans have a --no- form', () => {
    const cmd = parseCommandLine(['--max-keep-alive', '30', '--no-topic-alias-outbound', '--allow-anonymous', '--queue-overflow', 'drop-new', '--cert', 'c.pem', '--key', 'k.pem'], {});
    const expected: BrokerOptions = { maxKeepAlive: 30, topicAliasOutbound: false, allowAnonymous: true, queueOverflow: 'drop-new', tlsCert: 'c.pem', tlsKey: 'k.pem' };
    expect(cmd).toEqual({ kind: 'run', options: expected });
  });
});
