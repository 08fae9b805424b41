import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password-file.js';
import { collect, startBroker, type TestBroker } from '../helpers/broker.js';
import { hasOpenssl, makeCerts, type TestCerts } from '../helpers/certs.js';

const run = promisify(execFile);
const hasMosquittoClients = await run('mosquitto_pub', ['--help']).then(
  () => true,
  (err: NodeJS.ErrnoException) => err.code !== 'ENOENT',
);
if (!hasMosquittoClients) console.warn('SKIPPED: mosquitto_pub is not installed (apt-get install mosquitto-clients): no TLS interoperability test');

let certs: TestCerts | undefined;
let t: TestBroker | undefined;
beforeAll(() => {
  if (hasOpenssl && hasMosquittoClients) certs = makeCerts();
});
afterAll(() => certs?.remove());
afterEach(async () => t?.close());

/** mosquitto_pub over TLS; resolves with its exit code and stderr. */
async function pub(args: string[]): Promise<{ code: number; stderr: string }> {
  const port = String(t?.broker.addresses().tls?.port);
  try {
    await run('mosquitto_pub', ['-h', 'localhost', '-p', port, '--cafile', certs?.file('ca.crt') ?? '', '-V', 'mqttv5', ...args], { timeout: 8000 });
    return { code: 0, stderr: '' };
  } catch (err) {
    return { code: (err as { code: number }).code, stderr: (err as { stderr: string }).stderr };
  }
}

describe.skipIf(!hasMosquittoClients || !hasOpenssl)('mosquitto_pub over TLS', () => {
  it('connects with mTLS and a password, and is refused without its certificate or with a wrong password', async () => {
    const passwords = certs?.file('passwords') ?? '';
    writeFileSync(passwords, `dev:${await hashPassword(Buffer.from('pw'))}\n`);
    t = await startBroker({ tlsPort: 0, wssPort: -1, tlsCert: certs?.file('server.crt'), tlsKey: certs?.file('server.key'), tlsCa: certs?.file('ca.crt'), requireClientCert: true, passwordFile: passwords });
    const watcher = await t.client({ username: 'dev', password: 'pw' });
    const got = collect(watcher);
    await watcher.subscribeAsync('interop/#', { qos: 1 });
    const cert = ['--cert', certs?.file('client.crt') ?? '', '--key', certs?.file('client.key') ?? ''];
    expect(await pub([...cert, '-u', 'dev', '-P', 'pw', '-q', '1', '-t', 'interop/tls', '-m', 'over-tls'])).toMatchObject({ code: 0 });
    await got.waitFor(1);
    expect(got.messages[0]?.payload).toBe('over-tls');
    expect((await pub(['-u', 'dev', '-P', 'pw', '-t', 'interop/tls', '-m', 'x'])).code).not.toBe(0); // no client certificate
    const wrong = await pub([...cert, '-u', 'dev', '-P', 'nope', '-t', 'interop/tls', '-m', 'x']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/Bad user name or password|not authori[sz]ed/i);
  });
});
