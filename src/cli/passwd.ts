import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { hashPassword } from '../auth/password-file.js';
import { UsageError } from './args.js';

export const PASSWD_USAGE = `Usage: midge passwd [-c] FILE USER [--stdin]   add or update USER (prompts for the password)
       midge passwd [-c] -b FILE USER PASSWORD  add or update USER with PASSWORD (batch mode)
       midge passwd -D FILE USER                delete USER
  -c        create FILE, replacing any file of that name (as mosquitto_passwd -c)
  -b        batch mode: the password is the last argument (it is then visible to other
            users in the process list; prefer --stdin)
  -D        delete USER
  --stdin   read the password from the first line of standard input instead of prompting
The file may also hold Mosquitto hashes ($6$, $7$); Midge writes scrypt.`;

const MAX_PASSWORD_BYTES = 4096;

/** Reads the first line of standard input. */
async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > MAX_PASSWORD_BYTES * 2 || chunk.includes(0x0a)) break;
  }
  return (Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '');
}

/** Prompts on the terminal without echo. */
function prompt(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return Promise.reject(new UsageError('standard input is not a terminal: use --stdin to pipe the password'));
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new UsageError('cancelled'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    const finish = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(typed);
    };
    stdin.on('data', onData);
  });
}

/** Reads a password: the first line of stdin, or a prompt (twice) on the terminal. */
export async function readPassword(fromStdin: boolean): Promise<string> {
  const password = fromStdin ? await readStdinLine() : await prompt('Password: ');
  if (!fromStdin && (await prompt('Repeat password: ')) !== password) throw new UsageError('passwords do not match');
  return checked(password);
}

function checked(password: string): string {
  if (password === '') throw new UsageError('empty password');
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw new UsageError(`password longer than ${MAX_PASSWORD_BYTES} bytes`);
  return password;
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split(/\r?\n/).filter((l, i, all) => l !== '' || i < all.length - 1);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Writes the file through a temporary file and a rename, readable by its owner only. */
function writeLines(file: string, lines: string[]): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, lines.length > 0 ? `${lines.join('\n')}\n` : '', { mode: 0o600 });
    renameSync(tmp, file);
  } catch (err) {
    throw new UsageError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** `midge passwd`: adds, updates (-D: deletes) a user of a password file; returns the message to print. */
export async function runPasswd(argv: string[]): Promise<string> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        stdin: { type: 'boolean' },
        D: { type: 'boolean', short: 'D' },
        c: { type: 'boolean', short: 'c' },
        b: { type: 'boolean', short: 'b' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${PASSWD_USAGE}`);
  }
  const { values } = parsed;
  if (values.help) return PASSWD_USAGE;
  const [file, user, ...extra] = parsed.positionals;
  const expected = values.b ? 1 : 0;
  if (file === undefined || user === undefined || extra.length !== expected) {
    throw new UsageError(`expected FILE and USER${values.b ? ' and PASSWORD' : ''}\n${PASSWD_USAGE}`);
  }
  if (values.D && (values.c || values.b)) throw new UsageError(`-D cannot be combined with -c or -b\n${PASSWD_USAGE}`);
  if (values.b && values.stdin) throw new UsageError(`-b takes the password from the command line, --stdin from standard input: not both\n${PASSWD_USAGE}`);
  if (!/^[^:\s]+$/.test(user)) throw new UsageError('a user name cannot be empty or contain ":" or spaces');
  const lines = values.c ? [] : readLines(file);
  const index = lines.findIndex((l) => l.slice(0, l.indexOf(':')) === user && l.includes(':'));
  if (values.D) {
    if (index < 0) throw new UsageError(`no user ${user} in ${file}`);
    lines.splice(index, 1);
    writeLines(file, lines);
    return `deleted ${user} from ${file}`;
  }
  const password = values.b ? checked(extra[0] as string) : await readPassword(values.stdin === true);
  const entry = `${user}:${await hashPassword(Buffer.from(password))}`;
  if (index >= 0) lines[index] = entry;
  else lines.push(entry);
  writeLines(file, lines);
  return `${values.c ? 'created' : index >= 0 ? 'updated' : 'added'} ${user} in ${file}`;
}
