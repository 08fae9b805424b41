import { parseArgs } from 'node:util';
import {
  credentialsPath,
  hashAdminPassword,
  isValidName,
  newToken,
  readCredentials,
  tokenDigest,
  writeCredentials,
  type AdminCredentials,
  type AdminRole,
} from '../auth/admin-credentials.js';
import { CONFIG_ENV, loadConfig } from '../config/load.js';
import { isBrokerError } from '../errors.js';
import { UsageError } from './args.js';
import { readPassword } from './passwd.js';

export const ADMIN_USAGE = `Usage: midge admin add-token NAME --role admin|read   create an API token (printed once)
       midge admin add-user NAME --role admin|read [--stdin]   add or update a user (prompts for the password)
       midge admin list [--json]                   list tokens and users
       midge admin remove NAME                     remove a token or user
  --data-dir DIR   the broker's data directory (default: from --config / MIDGE_CONFIG, MIDGE_DATA_DIR, else ./data)
  --config FILE    read the data directory from this config file
  --stdin          read the password from the first line of standard input instead of prompting
A running broker picks the change up within a second; 'read' may read the API, 'admin' may also kick,
delete, publish and reload.`;

/** The data directory the admin command works on: --data-dir, else the config file and env, else ./data. */
function dataDirOf(values: { 'data-dir'?: string | undefined; config?: string | undefined }): string {
  if (values['data-dir'] !== undefined) return values['data-dir'];
  try {
    const options = loadConfig({ file: values.config ?? process.env[CONFIG_ENV], env: process.env });
    return options.dataDir ?? './data';
  } catch (err) {
    throw new UsageError(isBrokerError(err) ? err.message : String(err));
  }
}

function roleOf(role: string | undefined): AdminRole {
  if (role === 'admin' || role === 'read') return role;
  throw new UsageError(`--role must be admin or read${role === undefined ? '' : `, found ${JSON.stringify(role)}`}; see midge admin --help`);
}

function nameOf(name: string | undefined): string {
  if (name === undefined) throw new UsageError(`expected NAME; see midge admin --help`);
  if (!isValidName(name)) throw new UsageError(`invalid name ${JSON.stringify(name)}: letters, digits and . _ @ - (at most 64), starting with a letter or digit`);
  return name;
}

function load(file: string): AdminCredentials {
  try {
    return readCredentials(file);
  } catch (err) {
    throw new UsageError(isBrokerError(err) ? err.message : String(err));
  }
}

function save(file: string, credentials: AdminCredentials): void {
  try {
    writeCredentials(file, credentials);
  } catch (err) {
    throw new UsageError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** `midge admin`: manages the HTTP listener's API tokens and users; returns what to print. */
export async function runAdmin(argv: string[]): Promise<string> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        role: { type: 'string' },
        'data-dir': { type: 'string' },
        config: { type: 'string' },
        stdin: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}; see midge admin --help`);
  }
  const { values, positionals } = parsed;
  const [command, name, ...extra] = positionals;
  if (values.help || command === undefined) return ADMIN_USAGE;
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}; see midge admin --help`);
  const file = credentialsPath(dataDirOf(values));
  const credentials = load(file);
  const taken = (n: string) => credentials.tokens.some((t) => t.name === n) || credentials.users.some((u) => u.name === n);
  const created = new Date().toISOString();
  switch (command) {
    case 'add-token': {
      const n = nameOf(name);
      const role = roleOf(values.role);
      if (taken(n)) throw new UsageError(`${n} exists in ${file}: remove it first (midge admin remove ${n})`);
      const token = newToken();
      save(file, { ...credentials, tokens: [...credentials.tokens, { name: n, role, sha256: tokenDigest(token), created }] });
      // The token itself goes to stdout alone, so that scripts can capture it
      process.stderr.write(`added token ${n} (${role}) to ${file}; it is shown once:\n`);
      return token;
    }
    case 'add-user': {
      const n = nameOf(name);
      const role = roleOf(values.role);
      if (credentials.tokens.some((t) => t.name === n)) throw new UsageError(`${n} is a token in ${file}: choose another name`);
      const password = await hashAdminPassword(await readPassword(values.stdin === true));
      const existed = credentials.users.some((u) => u.name === n);
      const users = [...credentials.users.filter((u) => u.name !== n), { name: n, role, password, created }];
      save(file, { ...credentials, users });
      return `${existed ? 'updated' : 'added'} user ${n} (${role}) in ${file}`;
    }
    case 'list': {
      if (name !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(name)}; see midge admin --help`);
      const rows = [
        ...credentials.tokens.map((t) => ({ name: t.name, kind: 'token', role: t.role, created: t.created })),
        ...credentials.users.map((u) => ({ name: u.name, kind: 'user', role: u.role, created: u.created })),
      ];
      if (values.json) return JSON.stringify(rows);
      if (rows.length === 0) return `no tokens or users in ${file}`;
      return rows.map((r) => `${r.name.padEnd(20)} ${r.kind.padEnd(6)} ${r.role.padEnd(6)} ${r.created}`).join('\n');
    }
    case 'remove': {
      const n = nameOf(name);
      if (!taken(n)) throw new UsageError(`no token or user ${n} in ${file}`);
      save(file, { ...credentials, tokens: credentials.tokens.filter((t) => t.name !== n), users: credentials.users.filter((u) => u.name !== n) });
      return `removed ${n} from ${file}`;
    }
    default:
      throw new UsageError(`unknown admin command ${JSON.stringify(command)}; see midge admin --help`);
  }
}
