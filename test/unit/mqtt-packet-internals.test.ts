/**
 * src/protocol/mqtt-packet-internals.ts replaces private parts of mqtt-packet's parser, written
 * against one version. These tests fail, naming that version, when the installed mqtt-packet is
 * another or has another shape, and check that no other module reaches into the parser.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MQTT_PACKET_VERSION, shapeProblems } from '../../src/protocol/mqtt-packet-internals.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(import.meta.url);
const parserPrototype = (require('mqtt-packet/parser.js') as { prototype: Record<string, unknown> }).prototype;

/** Runs `check` with `Parser.prototype[name]` replaced by `value` (undefined deletes it), then restores it. */
function withPrototypeMember<T>(name: string, value: unknown, check: () => T): T {
  const original = Object.getOwnPropertyDescriptor(parserPrototype, name);
  if (value === undefined) delete parserPrototype[name];
  else Object.defineProperty(parserPrototype, name, { value, configurable: true, writable: true });
  try {
    return check();
  } finally {
    if (original) Object.defineProperty(parserPrototype, name, original);
  }
}

describe('the mqtt-packet internals the codec replaces', () => {
  it(`the installed mqtt-packet is ${MQTT_PACKET_VERSION}, with the private parser shape mqtt-packet-internals.ts is written against`, () => {
    const problems = shapeProblems();
    if (problems.length > 0) {
      throw new Error(
        `src/protocol/mqtt-packet-internals.ts is written against mqtt-packet ${MQTT_PACKET_VERSION}, and the installed one differs:\n` +
          problems.map((p) => `  - ${p}`).join('\n') +
          `\nPort the replacements in that module to the installed version (or pin mqtt-packet back to ${MQTT_PACKET_VERSION}), then update MQTT_PACKET_VERSION and the fingerprints there.`,
      );
    }
  });

  it(`package.json pins mqtt-packet to exactly ${MQTT_PACKET_VERSION}`, () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies['mqtt-packet'], `mqtt-packet-internals.ts is written against mqtt-packet ${MQTT_PACKET_VERSION}`).toBe(MQTT_PACKET_VERSION);
  });

  it('a replaced method whose source changed is reported by name', () => {
    const changed = function (this: unknown) {
      return null;
    };
    const problems = withPrototypeMember('_parseString', changed, shapeProblems);
    expect(problems).toContain(`Parser.prototype._parseString has changed (its replacement here copies ${MQTT_PACKET_VERSION}'s)`);
    expect(shapeProblems()).toEqual([]); // restored
  });

  it('a private method the codec calls that is gone is reported by name', () => {
    expect(withPrototypeMember('_parseByType', undefined, shapeProblems)).toContain('Parser.prototype._parseByType is gone');
    expect(withPrototypeMember('parse', undefined, shapeProblems)).toContain('Parser.prototype.parse is gone');
  });

  it('no other module under src/ reaches into the parser\'s private members', () => {
    const privateMember = /\.(_parse[A-Za-z0-9]*|_list|_pos|_states|_stateCounter|_resetState|_emitError|_lastTopic|_lastTopicBytes)\b/;
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (entry.name.endsWith('.ts') && entry.name !== 'mqtt-packet-internals.ts') {
          readFileSync(file, 'utf8')
            .split('\n')
            .forEach((line, i) => {
              const code = line.trim();
              if (code.startsWith('*') || code.startsWith('/*') || code.startsWith('//')) return; // comments may name them
              if (privateMember.test(code)) offenders.push(`${path.relative(ROOT, file)}:${i + 1}: ${code}`);
            });
        }
      }
    };
    walk(path.join(ROOT, 'src'));
    expect(offenders).toEqual([]);
  });
});
