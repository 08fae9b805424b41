import { describe, expect, it } from 'vitest';
import { isBrokerError } from '../../src/errors.js';
import { DEFAULTS, resolveOptions } from '../../src/options.js';
import { parseCommandLine, UsageError } from '../../src/cli/args.js';

describe('options', () => {
  it('applies defaults', () => {
    const o = resolveOptions({});
    expect(o.port).toBe(DEFAULTS.port);
    expect(o.queueOverflow).toBe('drop-oldest');
  });

  it('names the key, the expectation and the value on a bad option', () => {
    try {
      resolveOptions({ port: 70000 });
      expect.unreachable();
    } catch (err) {
      expect(isBrokerError(err, 'ERR_INVALID_OPTION')).toBe(true);
      expect((err as Error).message).toContain('port: expected an integer from -1 to 65535, found 70000');
    }
  });

  it('refuses unknown keys', () => {
    expect(() => resolveOptions({ prot: 1 } as never)).toThrow(/prot/);
  });
});

describe('command line', () => {
  it('maps the contract flags to options', () => {
    const cmd = parseCommandLine(['--host', '127.0.0.1', '--port', '0', '--ws-port', '-1', '--ws-path', '/m', '--log-level', 'warn']);
    expect(cmd).toEqual({ kind: 'run', options: { host: '127.0.0.1', port: 0, wsPort: -1, wsPath: '/m', logLevel: 'warn' } });
  });

  it('rejects unknown flags (naming the nearest one) and bad numbers in one style', () => {
    expect(() => parseCommandLine(['--nope'])).toThrow(UsageError);
    expect(() => parseCommandLine(['--prot', '1'])).toThrow('invalid option: --prot: unknown option (did you mean --port?)');
    expect(() => parseCommandLine(['--port', 'x'])).toThrow('invalid option: --port: expected an integer from -1 to 65535, found "x"');
    expect(() => parseCommandLine(['--http-port', '70000'])).toThrow('invalid option: --http-port: expected an integer from -1 to 65535, found 70000');
    expect(() => parseCommandLine(['--log-level', 'verbose'])).toThrow('invalid option: --log-level: expected fatal|error|warn|info|debug|trace|silent, found "verbose"');
    expect(() => parseCommandLine(['--config', '/nonexistent/midge.json'])).toThrow(/cannot read config file/);
  });
});
