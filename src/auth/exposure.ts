import type { ListenAddresses } from '../broker.js';

/** Is `host` an address only this machine can reach? */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::ffff:127.0.0.1';
}

/**
 * The start-up warning when clients without credentials are accepted on an interface other
 * machines can reach, or undefined. `authenticates`: some plugin (password file, JWT, the
 * user's) checks credentials; `allowAnonymous` lets clients without any through even then.
 */
export function anonymousWarning(addresses: ListenAddresses, authenticates: boolean, allowAnonymous: boolean): string | undefined {
  if (authenticates && !allowAnonymous) return undefined;
  const exposed = [addresses.tcp, addresses.ws, addresses.tls, addresses.wss]
    .filter((a): a is { host: string; port: number } => a !== undefined && !isLoopback(a.host))
    .map((a) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`));
  if (exposed.length === 0) return undefined;
  const how = authenticates
    ? 'remove allowAnonymous (--allow-anonymous) to require credentials'
    : 'create users with `midge passwd -c FILE USER` and start with --password-file FILE (or passwordFile) to require passwords, or bind to 127.0.0.1 with --host';
  return `anonymous clients are accepted on ${exposed.join(', ')}: ${how}`;
}
