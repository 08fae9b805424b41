import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

describe('Node.js flags Midge runs with (src/cli/node-flags.ts)', () => {
  it('a young generation of 4 MB per semi-space (bench/README.md, Memory: where it goes)', () => {
    expect(NODE_FLAGS).toEqual(['--max-semi-space-size=4']);
  });

  it('npm start passes them to node', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts['start']).toBe(`node ${NODE_FLAGS.join(' ')} dist/src/cli/main.js`);
  });

  it('the Docker image sets them in NODE_OPTIONS', () => {
    // An ENV line, or a continuation line of one (comments start with #)
    const value = /^(?:ENV\s+|\s+)NODE_OPTIONS=(\S+)/m.exec(read('Dockerfile'))?.[1];
    expect(value).toBe(NODE_FLAGS.join(' '));
  });

  it('the midge command keeps a plain shebang, which every env understands (no env -S)', () => {
    expect(read('src/cli/main.ts').split('\n', 1)[0]).toBe('#!/usr/bin/env node');
  });
});
