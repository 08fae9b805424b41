import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseCommandLine, USAGE } from '../../src/cli/args.js';

/**
 * docker-compose.yml cannot be run here (no docker, no network): these checks keep it in step with
 * the CLI instead. The file parses, runs NATS with JetStream and three Midge nodes built from the
 * Dockerfile, and each node's command is accepted by Midge's own command-line parser.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  ports?: string[];
  depends_on?: string[];
  volumes?: string[];
}
const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const midges = Object.entries(compose.services).filter(([name]) => name.startsWith('midge'));

describe('docker-compose.yml (cluster mode)', () => {
  it('runs nats:2.10 with JetStream and three Midge nodes built from the Dockerfile', () => {
    const nats = compose.services.nats;
    expect(nats?.image).toBe('nats:2.10');
    expect(nats?.command).toContain('-js');
    expect(midges.map(([name]) => name)).toEqual(['midge1', 'midge2', 'midge3']);
    for (const [, service] of midges) {
      expect(service.build).toBe('.');
      expect(service.depends_on).toContain('nats');
    }
  });

  it('each node command uses only flags of midge --help and parses to cluster mode on the nats service with its own node id', () => {
    const ids = new Set<string>();
    for (const [name, service] of midges) {
      const argv = service.command ?? [];
      for (const flag of argv.filter((a) => a.startsWith('--'))) expect(USAGE, `${name}: ${flag}`).toContain(`${flag} `);
      const command = parseCommandLine(argv, { MIDGE_DATA_DIR: '/data', MIDGE_HTTP_HOST: '0.0.0.0' });
      expect(command.kind).toBe('run');
      const cluster = command.kind === 'run' ? command.options.cluster : undefined;
      expect(cluster?.servers).toBe('nats://nats:4222');
      expect(cluster?.nodeId).toMatch(/^n[123]$/);
      ids.add(cluster?.nodeId ?? '');
    }
    expect(ids.size).toBe(3);
  });

  it('publishes each node on host ports of its own, to the container ports midge listens on', () => {
    const hostPorts = midges.flatMap(([, s]) => (s.ports ?? []).map((p) => p.split(':')[0]));
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
    for (const [, s] of midges) expect((s.ports ?? []).map((p) => p.split(':')[1]).sort()).toEqual(['1883', '8080']);
    for (const [, s] of midges) for (const v of s.volumes ?? []) expect(compose.volumes).toHaveProperty(v.split(':')[0] as string);
  });
});
