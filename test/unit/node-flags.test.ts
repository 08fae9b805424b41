import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { shebangFlags } from '../../bench/brokers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('Node.js flags of the midge command', () => {
  it('the CLI, npm start and the benchmark run Node with the same V8 settings', () => {
    const flags = shebangFlags(path.join(ROOT, 'src/cli/main.ts'));
    // A young generation of 8 MB per semi-space: the default 16 MB is most of an idle broker's RSS (README, Performance)
    expect(flags).toEqual(['--max-semi-space-size=8']);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['start']).toBe(`node ${flags.join(' ')} dist/src/cli/main.js`);
  });

  it('reads flags from env -S shebangs and none from a plain one', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-shebang-'));
    try {
      const file = path.join(dir, 'main.js');
      writeFileSync(file, '#!/usr/bin/env -S node --a=1  --b\nconsole.log(1)\n');
      expect(shebangFlags(file)).toEqual(['--a=1', '--b']);
      writeFileSync(file, '#!/usr/bin/env node\n');
      expect(shebangFlags(file)).toEqual([]);
      writeFileSync(file, 'console.log(1)\n');
      expect(shebangFlags(file)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
