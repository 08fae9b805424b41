import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { CLI_DEFAULTS, DEFAULTS, resolveOptions } from '../../src/options.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** TLS and secure WebSocket defaults (MQTT's registered ports); their options arrive with the TLS listener. */
const MQTT_TLS_PORT = 8883;
const MQTT_WSS_PORT = 8084;

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** The Dockerfile's instructions: comments dropped, continuation lines joined. */
function instructions(): Instruction[] {
  const text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const joined = text
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

/** The instructions of the last (runtime) stage. */
function runtimeStage(all: Instruction[]): Instruction[] {
  const last = all.map((i) => i.op).lastIndexOf('FROM');
  return all.slice(last);
}

/** `KEY=value KEY2=value2` of ENV instructions. */
function envOf(stage: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of stage.filter((x) => x.op === 'ENV')) {
    for (const m of i.args.matchAll(/(\w+)=(\S+)/g)) env[m[1] as string] = m[2] as string;
  }
  return env;
}

describe('Dockerfile', () => {
  const all = instructions();
  const runtime = runtimeStage(all);
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: { midge: string } };

  it('is multi-stage, with a node:22 slim or alpine runtime', () => {
    const froms = all.filter((i) => i.op === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(froms[0]?.args).toMatch(/ AS build$/i);
    expect(runtime[0]?.args).toMatch(/^node:22-(slim|alpine)$/);
    expect(runtime.some((i) => i.op === 'COPY' && i.args.startsWith('--from=build'))).toBe(true);
  });

  it('exposes the default ports: MQTT, WebSocket, TLS, secure WebSocket, HTTP', () => {
    const exposed = runtime.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map(Number));
    const expected = [DEFAULTS.port, DEFAULTS.wsPort, MQTT_TLS_PORT, MQTT_WSS_PORT, CLI_DEFAULTS.httpPort];
    expect([...exposed].sort()).toEqual([...expected].sort());
  });

  it('runs the midge bin of package.json as its entrypoint, as a non-root user', () => {
    expect(runtime.find((i) => i.op === 'ENTRYPOINT')?.args).toBe('["midge"]');
    const link = /ln -s (\S+) \/usr\/local\/bin\/midge/.exec(runtime.filter((i) => i.op === 'RUN').map((i) => i.args).join(' '));
    expect(link?.[1]).toBe(path.posix.join('/app', pkg.bin.midge));
    const user = runtime.filter((i) => i.op === 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
  });

  it('keeps data in the /data volume: MIDGE_DATA_DIR makes it the data dir', () => {
    const volume = runtime.find((i) => i.op === 'VOLUME')?.args;
    expect(volume).toBe('/data');
    const env = envOf(runtime);
    // The default data dir is relative (./data); the image pins it to the volume through the environment
    expect(DEFAULTS.dataDir).toBe('./data');
    const options = resolveOptions(loadConfig({ env }));
    expect(options.dataDir).toBe(volume);
  });

  it('serves HTTP on every interface of the container, so a published port reaches /metrics', () => {
    // The host's loopback default (httpHost 127.0.0.1) would make `-p 8080:8080` useless in a container
    const options = resolveOptions(loadConfig({ env: envOf(runtime) }));
    expect(options.httpHost).toBe('0.0.0.0');
  });

  it('checks health on /healthz at the HTTP port, and ships the status page', () => {
    const check = runtime.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
    expect(check).toContain('/healthz');
    expect(check).toContain(`process.env.MIDGE_HTTP_PORT || ${CLI_DEFAULTS.httpPort}`);
    const copies = runtime.filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copies).toContain('status ./status');
    expect(copies.some((c) => c.includes('/app/dist/src'))).toBe(true);
  });
});
