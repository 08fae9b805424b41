import { describe, expect, it } from 'vitest';
import { BenchUsageError, parseBenchArgs } from '../../src/loadgen/args.js';
import type { BenchRun } from '../../src/loadgen/args.js';

/** Parses `argv` and expects a run. */
function run(argv: string[]): BenchRun {
  const command = parseBenchArgs(argv);
  if (command.kind !== 'run') throw new Error(`expected a run, got ${command.kind}`);
  return command;
}

describe('midge bench arguments', () => {
  it('defaults to fanin-qos1 against mqtt://127.0.0.1:1883 for 10 s with 10 publishers → 1 subscriber', () => {
    const r = run([]);
    expect(r.endpoint).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 1883 });
    expect(r.scenario.name).toBe('fanin-qos1');
    expect(r).toMatchObject({ durationMs: 10_000, warmupMs: 1000, payloadSize: 64, json: false, pid: undefined });
    expect(r.shape).toMatchObject({ publishers: 10, subscribers: 1, window: 100 });
    expect(r.topicRoot).toMatch(/^midge-bench\/[0-9a-f]{8}$/);
    expect(r.clientIdPrefix).toMatch(/^mb-[0-9a-f]{8}-$/);
  });

  it('takes the documented flags', () => {
    const r = run([
      '--url', 'mqtt://broker.local:2883', '--scenario', 'fanin-qos2', '--duration', '2.5', '--warmup', '0',
      '--payload', '128', '--publishers', '4', '--subscribers', '3', '--json', '--topic', 'load/test',
      '--client-id', 'x-', '--username', 'u', '--password', 'p', '--pid', '1234',
    ]);
    expect(r.endpoint).toEqual({ kind: 'tcp', host: 'broker.local', port: 2883 });
    expect(r.scenario.name).toBe('fanin-qos2');
    expect(r).toMatchObject({ durationMs: 2500, warmupMs: 0, payloadSize: 128, json: true, pid: 1234 });
    expect(r).toMatchObject({ topicRoot: 'load/test', clientIdPrefix: 'x-', username: 'u', password: 'p' });
    expect(r.shape).toMatchObject({ publishers: 4, subscribers: 3, window: 200 });
  });

  it('uses each scenario’s shape: fan-out 1 → 50 with a window of 200, connections 1000 at 100 at a time', () => {
    expect(run(['--scenario', 'fanout-qos0']).shape).toMatchObject({ publishers: 1, subscribers: 50, window: 200 });
    expect(run(['--scenario', 'connections', '--connections', '15000']).shape).toMatchObject({ connections: 15_000, concurrency: 100 });
    expect(run(['--scenario', 'connections']).shape.connections).toBe(1000);
    expect(run(['--scenario', 'latency', '--rate', '500']).shape.rate).toBe(500);
    expect(run(['--publishers', '40']).shape.window).toBe(25);
  });

  it('accepts mqtt://, tcp:// and ws:// URLs with their default ports', () => {
    expect(run(['--url', 'mqtt://h']).endpoint).toEqual({ kind: 'tcp', host: 'h', port: 1883 });
    expect(run(['--url', 'tcp://h:99']).endpoint).toEqual({ kind: 'tcp', host: 'h', port: 99 });
    expect(run(['--url', 'ws://h:8083/mqtt']).endpoint).toEqual({ kind: 'ws', host: 'h', port: 8083, url: 'ws://h:8083/mqtt' });
    expect(run(['--url', 'ws://h']).endpoint).toMatchObject({ kind: 'ws', port: 80 });
    expect(run(['--url', 'mqtt://[::1]:1884']).endpoint).toEqual({ kind: 'tcp', host: '::1', port: 1884 });
  });

  it('accepts mqtts:// and wss:// URLs, verifying certificates unless --insecure, with --ca', () => {
    expect(run(['--url', 'mqtts://h']).endpoint).toEqual({ kind: 'tcp', host: 'h', port: 8883, tls: { rejectUnauthorized: true } });
    expect(run(['--url', 'wss://h/mqtt', '--insecure']).endpoint).toMatchObject({ kind: 'ws', port: 443, tls: { rejectUnauthorized: false } });
    const ca = run(['--url', 'mqtts://h:1', '--ca', 'package.json']).endpoint;
    expect(ca.tls?.ca?.toString('utf8')).toContain('"name": "midge"');
  });

  it('returns help for -h and --help, even with other flags', () => {
    expect(parseBenchArgs(['--help'])).toEqual({ kind: 'help' });
    expect(parseBenchArgs(['--scenario', 'fanin-qos0', '-h'])).toEqual({ kind: 'help' });
  });

  it.each([
    [['--scenario', 'nope'], /--scenario: unknown "nope"/],
    [['--url', 'http://h'], /scheme "http:" is not supported/],
    [['--url', 'not a url'], /is not a URL/],
    [['--duration', '0'], /--duration must be a number of seconds/],
    [['--duration', 'ten'], /--duration must be a number of seconds/],
    [['--payload', '8'], /--payload must be an integer from 16/],
    [['--publishers', '1.5'], /--publishers must be an integer/],
    [['--subscribers', '0'], /--subscribers must be an integer from 1/],
    [['--connections', '-3'], /--connections/],
    [['--password', 'p'], /--password needs --username/],
    [['--topic', 'a/+/b'], /--topic must be a topic name/],
    [['--scenario', 'latency', '--publishers', '3'], /do not apply to the latency scenario/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['--insecure'], /--ca and --insecure need an mqtts:\/\/ or wss:\/\/ URL/],
    [['--url', 'mqtts://h', '--ca', '/nonexistent/ca.pem'], /--ca: cannot read \/nonexistent\/ca.pem: ENOENT/],
    [['extra'], /Unexpected argument 'extra'|positional/],
  ])('rejects %j with a one-line message', (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(argv)).toThrow(message);
  });
});
