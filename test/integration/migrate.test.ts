import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type ErrorWithReasonCode, type MqttClient } from 'mqtt';
import { parse as parseYaml } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { formatMigration, migrateMosquitto } from '../../src/cli/migrate.js';
import { resolveOptions } from '../../src/options.js';
import { collect, subackCodes } from '../helpers/broker.js';

const MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const hasMosquitto = spawnSync('mosquitto', ['-h']).error === undefined && spawnSync('mosquitto_passwd', ['-h']).error === undefined;
if (!hasMosquitto) console.warn('mosquitto or mosquitto_passwd is not installed: the migration test against a running Mosquitto is skipped');

const children: ChildProcess[] = [];
const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const CONF = `# A typical Mosquitto 2 configuration
per_listener_settings false
listener 1883
listener 9001
protocol websockets
listener 8883
certfile /etc/mosquitto/certs/server.crt
keyfile /etc/mosquitto/certs/server.key
cafile /etc/mosquitto/certs/ca.crt
require_certificate true
use_identity_as_username true
listener 8884
protocol websockets
certfile /etc/mosquitto/certs/server.crt
keyfile /etc/mosquitto/certs/server.key
allow_anonymous false
password_file /etc/mosquitto/passwd
acl_file /etc/mosquitto/acl
persistence true
persistence_location /var/lib/mosquitto/
persistence_file mosquitto.db
max_queued_messages 5000
max_inflight_messages 0
message_size_limit 262144
max_keepalive 120
retain_available false
sys_interval 30
log_dest syslog
connection cloud
address cloud.example.com:8883
topic sensors/# out 1
`;

describe('midge migrate: the translation', () => {
  it('translates listeners (TLS, websockets), security, persistence and limits, and names every other directive with its line', () => {
    const acl = 'topic read public/#\nuser alice\ntopic readwrite home/alice/#\n';
    const m = migrateMosquitto(CONF, 'mosquitto.conf', (p) => (p === '/etc/mosquitto/acl' ? acl : undefined));
    const options = Object.fromEntries([...m.options].map(([k, v]) => [k, v.value]));
    expect(options).toEqual({
      host: '0.0.0.0',
      port: 1883,
      wsPort: 9001,
      tlsPort: 8883,
      wssPort: 8884,
      tlsCert: '/etc/mosquitto/certs/server.crt',
      tlsKey: '/etc/mosquitto/certs/server.key',
      tlsCa: '/etc/mosquitto/certs/ca.crt',
      requireClientCert: true,
      certAsUsername: true,
      allowAnonymous: false,
      passwordFile: '/etc/mosquitto/passwd',
      aclFile: '/etc/mosquitto/acl',
      store: 'level',
      dataDir: '/var/lib/mosquitto/',
      maxQueuedMessages: 5000,
      maxInflight: 65535,
      maxPacketSize: 262144 + 65546,
      maxKeepAlive: 120,
      sysInterval: 30,
      bridges: [{ name: 'cloud', url: 'mqtt://cloud.example.com:8883', topics: [{ filter: 'sensors/#', direction: 'out', qos: 1 }] }],
    });
    const named = m.untranslated.map((u) => u.split(': ')[0]);
    expect(named).toEqual(['mosquitto.conf:21', 'mosquitto.conf:26', 'mosquitto.conf:28']);
    expect(m.untranslated[1]).toContain('retain_available false: Midge always offers retained messages');
    expect(m.notes.join('\n')).toContain('1 topic rule(s) before the first "user" line apply only to anonymous clients in Mosquitto');
    // Each option names the line it came from
    expect(m.options.get('requireClientCert')?.from).toBe('mosquitto.conf:10 require_certificate true');
    expect(m.options.get('tlsCa')?.from).toBe('mosquitto.conf:9 cafile /etc/mosquitto/certs/ca.crt');
    expect(m.options.get('maxKeepAlive')?.from).toBe('mosquitto.conf:25 max_keepalive 120');
  });

  it('translates connection blocks into bridges, Mosquitto\'s topic, prefix, TLS and session directives included, and the result loads', () => {
    const conf = [
      'connection site-a',
      'address broker1.example.com:8883 broker2.example.com',
      'bridge_protocol_version mqttv50',
      'remote_clientid gateway-7',
      'remote_username gw',
      'remote_password s3cret',
      'local_username gw-local',
      'cleansession true',
      'keepalive_interval 30',
      'try_private false',
      'restart_timeout 2 120',
      'bridge_cafile /etc/ssl/ca.pem',
      'bridge_certfile /etc/ssl/gw.pem',
      'bridge_keyfile /etc/ssl/gw.key',
      'topic sensors/# out 1 "" site-a/',
      'topic commands/# in 2 local/ remote/',
      'topic "" both 0 a/status b/status',
      'notifications true',
      'start_type lazy',
      'connection second',
      'address 10.0.0.9',
      'topic # out',
      'connection empty',
    ].join('\n');
    const m = migrateMosquitto(conf, 'bridges.conf', () => undefined);
    expect(m.options.get('bridges')?.value).toEqual([
      {
        name: 'site-a',
        url: ['mqtts://broker1.example.com:8883', 'mqtts://broker2.example.com:1883'],
        protocolVersion: 5,
        clientId: 'gateway-7',
        username: 'gw',
        password: 's3cret',
        localUsername: 'gw-local',
        cleanStart: true,
        keepalive: 30,
        bridgeBit: false,
        reconnectDelay: 2000,
        reconnectDelayMax: 120_000,
        ca: '/etc/ssl/ca.pem',
        cert: '/etc/ssl/gw.pem',
        key: '/etc/ssl/gw.key',
        topics: [
          { filter: 'sensors/#', direction: 'out', qos: 1, remotePrefix: 'site-a/' },
          { filter: 'commands/#', direction: 'in', qos: 2, localPrefix: 'local/', remotePrefix: 'remote/' },
          { filter: '', direction: 'both', qos: 0, localPrefix: 'a/status', remotePrefix: 'b/status' },
        ],
      },
      { name: 'second', url: 'mqtt://10.0.0.9:1883', topics: [{ filter: '#', direction: 'out', qos: 0 }] },
    ]);
    expect(m.untranslated).toEqual([
      expect.stringMatching(/^bridges.conf:18: notifications true: Midge reports bridge state in \$SYS/),
      expect.stringMatching(/^bridges.conf:19: start_type lazy: /),
      'bridges.conf:23: bridge empty has no address',
    ]);
    // What midge migrate prints is a configuration Midge accepts (the bridges are validated, files included)
    const yaml = parseYaml(formatMigration(m, 'bridges.conf')) as Record<string, unknown>;
    const first = (yaml.bridges as Record<string, unknown>[])[0] as Record<string, unknown>;
    expect(() => resolveOptions({ bridges: [{ ...first, ca: undefined, cert: undefined, key: undefined }, (yaml.bridges as object[])[1] as never] as never })).not.toThrow();
  });

  it('no listener is what Mosquitto 2 does then: localhost:1883 only', () => {
    const options = Object.fromEntries([...migrateMosquitto('allow_anonymous true\n', 'm.conf').options].map(([k, v]) => [k, v.value]));
    expect(options).toMatchObject({ host: '127.0.0.1', port: 1883, wsPort: -1, tlsPort: -1, wssPort: -1, allowAnonymous: true });
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts a server process and waits until `port` accepts connections. */
async function serve(command: string, args: string[], port: number): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`${command} exited: ${output}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(true)).on('error', () => resolve(false));
      s.once('connect', () => s.destroy());
    });
    if (up) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${command} did not listen on ${port}: ${output}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** What the same clients get from a broker: alice over TCP and WebSocket, an anonymous client, alice outside her ACL. */
async function behaviour(tcp: number, ws: number): Promise<Record<string, unknown>> {
  const connect = async (url: string, options: mqtt.IClientOptions) => {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    clients.push(c);
    return c;
  };
  const alice = await connect(`mqtt://127.0.0.1:${tcp}`, { username: 'alice', password: 'wonderland', protocolVersion: 5 });
  const aliceWs = await connect(`ws://127.0.0.1:${ws}/mqtt`, { username: 'alice', password: 'wonderland', protocolVersion: 5 });
  const got = collect(aliceWs);
  // Mosquitto grants a filter the ACL denies and filters deliveries, where Midge refuses it (0x87): so only what arrives is compared
  await subackCodes(aliceWs, { 'home/alice/#': { qos: 1 } });
  await alice.publishAsync('home/alice/lamp', 'on', { qos: 1 });
  await alice.publishAsync('home/bob/lamp', 'off', { qos: 1 }).catch(() => undefined);
  await alice.publishAsync('home/alice/fan', 'on', { qos: 1 });
  await got.waitFor(2);
  await new Promise((r) => setTimeout(r, 200)); // anything of home/bob would have arrived by now
  // A refused CONNECT: Mosquitto answers 0x87 for a wrong password where Midge answers 0x86 (both refuse)
  const refused = (options: mqtt.IClientOptions) =>
    connect(`mqtt://127.0.0.1:${tcp}`, { protocolVersion: 5, ...options }).then(
      () => false,
      (e: unknown) => (e as ErrorWithReasonCode).code >= 0x80,
    );
  const anonymousRefused = await refused({});
  const wrongRefused = await refused({ username: 'alice', password: 'nope' });
  return { delivered: got.messages.map((m) => `${m.topic}=${m.payload}`).sort(), anonymousRefused, wrongRefused };
}

describe('midge migrate against a real Mosquitto', () => {
  it.skipIf(!hasMosquitto)('a mosquitto.conf, password file and ACL that Mosquitto runs give a Midge that behaves the same', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-migrate-'));
    const [tcp, ws] = [await freePort(), await freePort()];
    expect((await run('mosquitto_passwd', ['-c', '-b', path.join(dir, 'passwd'), 'alice', 'wonderland'])).code).toBe(0);
    writeFileSync(path.join(dir, 'acl'), '# Mosquitto ACL\nuser alice\ntopic readwrite home/alice/#\n');
    const conf = path.join(dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `listener ${tcp} 127.0.0.1`,
        `listener ${ws} 127.0.0.1`,
        'protocol websockets',
        'allow_anonymous false',
        `password_file ${path.join(dir, 'passwd')}`,
        `acl_file ${path.join(dir, 'acl')}`,
        'persistence true',
        `persistence_location ${dir}/`,
        'max_queued_messages 50',
        'sys_interval 0',
        '',
      ].join('\n'),
    );
    // Started as root, Mosquitto drops to its own user: it must be able to read the files and write the directory
    chmodSync(dir, 0o777);
    for (const f of ['passwd', 'acl', 'mosquitto.conf']) chmodSync(path.join(dir, f), 0o644);
    const mosquitto = await serve('mosquitto', ['-c', conf], tcp);
    const expected = await behaviour(tcp, ws);
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await stop(mosquitto);

    const migrated = await run(process.execPath, [MAIN, 'migrate', conf]);
    expect(migrated.code).toBe(0);
    expect(migrated.stderr).toBe('');
    expect(migrated.stdout).toContain('# Every directive was translated.');
    const yaml = path.join(dir, 'midge.yaml');
    writeFileSync(yaml, migrated.stdout);
    expect(parseYaml(migrated.stdout)).toMatchObject({ host: '127.0.0.1', port: tcp, wsPort: ws, tlsPort: -1, wssPort: -1, store: 'level', maxQueuedMessages: 50 });
    const midge = await serve(process.execPath, [MAIN, '--config', yaml, '--http-port', '-1', '--data-dir', path.join(dir, 'midge-data')], tcp);
    const actual = await behaviour(tcp, ws);
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await stop(midge);
    // alice's messages cross from TCP to WebSocket; without credentials, or with a wrong password, a client is refused
    expect(expected).toEqual({ delivered: ['home/alice/fan=on', 'home/alice/lamp=on'], anonymousRefused: true, wrongRefused: true });
    expect(actual).toEqual(expected);
  });
});
