/**
 * `midge log list|read|stat`: reads the bridge's log store. While the broker runs, through its
 * admin socket (LevelDB allows one process per directory); otherwise by opening the data
 * directory itself, which then keeps a broker from starting on it until the command ends.
 */
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { isUtf8 } from 'node:buffer';
import { parseArgs } from 'node:util';
import { adminSocketPath, recordToJson, type AdminRequest, type RecordJson } from '../bridge/admin.js';
import { Log, type StreamStat } from '../bridge/log.js';
import { LevelStore } from '../store/level.js';
import { UsageError } from './args.js';
import { clusterTarget, openClusterSource } from './log-cluster.js';

export const LOG_USAGE = `Usage: midge log list [--data-dir DIR | --cluster URLS | --config FILE] [--json]
       midge log stat <stream> [--data-dir DIR | --cluster URLS | --config FILE] [--json]
       midge log read <stream> [--from N] [--limit N] [--follow] [--group NAME] [--json] [--data-dir DIR | --cluster URLS | --config FILE]
  --data-dir DIR   the broker's data directory (default ./data)
  --cluster URLS   cluster mode: read the streams from NATS JetStream (nats://host:4222[,...]);
                   offsets are stream sequences, starting at 1
  --prefix P       the cluster's prefix (default midge)
  --config FILE    a cluster node's config file: its cluster servers and prefix
  --from N         first offset (default: the group's committed offset, else the oldest record)
  --limit N        records per batch (default 100, at most 10000)
  --follow         keep reading new records (needs the running broker)
  --group NAME     consumer group: resume from its offset and commit it after each batch
  --json           one JSON object per line`;

/** How the command reaches the log: the running broker's socket or the directory itself. */
interface Source {
  request(req: AdminRequest): Promise<Record<string, unknown>>;
  readonly live: boolean;
  close(): Promise<void>;
}

/** Runs `midge log ...` (argv after "log"). */
export async function runLogCommand(argv: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<void> {
  const { values, positionals } = parse(argv);
  const [command, stream, ...rest] = positionals;
  if (values.help || command === undefined) {
    out(LOG_USAGE);
    return;
  }
  if (rest.length > 0 || !['list', 'stat', 'read'].includes(command)) throw new UsageError(`unexpected "${[command, stream, ...rest].join(' ')}" (see midge log --help)`);
  if (command !== 'list' && stream === undefined) throw new UsageError(`midge log ${command} needs a stream name`);
  const cluster = clusterTarget(values);
  if (cluster !== undefined && values['data-dir'] !== undefined) throw new UsageError('--data-dir does not go with --cluster or --config (the cluster log is in JetStream)');
  const source = cluster !== undefined ? await openClusterSource(cluster) : await openSource(path.resolve(values['data-dir'] ?? './data'));
  try {
    if (command === 'list') printStreams(((await source.request({ op: 'list' })).streams as StreamStat[]), values.json, out);
    else if (command === 'stat') printStreams([(await source.request({ op: 'stat', stream: stream as string })).stream as StreamStat], values.json, out);
    else await read(source, stream as string, values, out);
  } finally {
    await source.close();
  }
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'data-dir': { type: 'string' },
        cluster: { type: 'string' },
        prefix: { type: 'string' },
        config: { type: 'string' },
        from: { type: 'string' },
        limit: { type: 'string' },
        group: { type: 'string' },
        follow: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see midge log --help)`);
  }
}

function count(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UsageError(`${flag} expects a non-negative integer, got "${value}"`);
  return Number(value);
}

type Values = ReturnType<typeof parse>['values'];

async function read(source: Source, stream: string, values: Values, out: (line: string) => void): Promise<void> {
  const { group, follow, json } = values;
  const limit = count('--limit', values.limit);
  let from = count('--from', values.from);
  if (follow && !source.live) throw new UsageError('--follow needs the running broker (no admin socket in the data directory)');
  let stop = false;
  const onSignal = () => (stop = true);
  process.once('SIGINT', onSignal);
  try {
    do {
      const answer = await source.request({ op: 'read', stream, from, limit, group, waitMs: follow ? 1000 : 0 });
      const records = answer.records as RecordJson[];
      for (const r of records) out(formatRecord(r, json));
      const last = records[records.length - 1];
      if (last) {
        from = last.offset + 1;
        if (group !== undefined) await source.request({ op: 'commit', stream, group, offset: from });
      }
    } while (follow && !stop);
  } finally {
    process.off('SIGINT', onSignal);
  }
}

/** One record: text `offset time topic qos payload`, or a JSON object (payload as UTF-8 text when it is). */
function formatRecord(r: RecordJson, json: boolean | undefined): string {
  const payload = Buffer.from(r.payload, 'base64');
  const text = isUtf8(payload) ? payload.toString('utf8') : undefined;
  if (json) {
    const { payload: _base64, ...rest } = r;
    return JSON.stringify(text === undefined ? { ...rest, payload: r.payload, payloadEncoding: 'base64' } : { ...rest, payload: text });
  }
  const shown = text === undefined ? `<${payload.length} bytes base64 ${r.payload}>` : JSON.stringify(text);
  return `${r.offset}\t${new Date(r.timestamp).toISOString()}\t${r.topic}\tqos${r.qos}${r.retain ? ' retain' : ''}\t${shown}`;
}

function printStreams(streams: StreamStat[], json: boolean | undefined, out: (line: string) => void): void {
  if (json) {
    for (const s of streams) out(JSON.stringify(s));
    return;
  }
  if (streams.length === 0) out('no streams');
  for (const s of streams) {
    const retention = s.maxBytes === undefined ? 'not configured' : `maxBytes ${s.maxBytes}, maxAge ${(s.maxAgeMs ?? 0) / 1000}s`;
    const groups = Object.entries(s.groups).map(([g, o]) => `${g}@${o}`).join(' ') || '-';
    out(`${s.name}\trecords ${s.records} (offsets ${s.first}..${s.next - 1})\tbytes ${s.bytes}\tretention ${retention}\tgroups ${groups}`);
  }
}

async function openSource(dataDir: string): Promise<Source> {
  const socketPath = adminSocketPath(dataDir);
  if (existsSync(socketPath)) {
    try {
      return await connectAdmin(socketPath);
    } catch {
      // A socket left by a killed broker: fall through to the directory
    }
  }
  if (!existsSync(path.join(dataDir, 'CURRENT'))) throw new UsageError(`${dataDir} is not a Midge data directory (use --data-dir)`);
  return openDirectory(dataDir);
}

/** Reads the data directory directly (no broker running: its lock would refuse us). */
async function openDirectory(dataDir: string): Promise<Source> {
  const store = new LevelStore(dataDir, 'fsync');
  await store.open({ queuePage: 2 });
  const log = new Log(store.logBackend(), []);
  await log.open();
  const handle = async (req: AdminRequest): Promise<Record<string, unknown>> => {
    if (req.op === 'list') return { streams: log.list() };
    if (req.op === 'stat') return { stream: log.stat(req.stream) };
    if (req.op === 'commit') return void (await log.commitGroup(req.stream, req.group, req.offset)), {};
    if (req.op === 'read') {
      const from = req.from ?? (req.group === undefined ? undefined : log.groupOffset(req.stream, req.group));
      return { records: (await log.read(req.stream, { from, limit: req.limit })).map(recordToJson) };
    }
    throw new UsageError(`${req.op} needs the running broker`);
  };
  return { live: false, request: handle, close: () => store.close() };
}

/** Talks to the running broker: one JSON request per line, one answer per line, in order. */
function connectAdmin(socketPath: string): Promise<Source> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const pending: { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
    let buffered = '';
    const failAll = (err: Error) => {
      for (const p of pending.splice(0)) p.reject(err);
    };
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const answer = JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>;
        buffered = buffered.slice(newline + 1);
        const p = pending.shift();
        if (answer.ok) p?.resolve(answer);
        else p?.reject(new Error(String(answer.error)));
      }
    });
    socket.on('close', () => failAll(new Error('the broker closed the admin connection')));
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', (err) => failAll(err));
      resolve({
        live: true,
        request: (req) => new Promise((res, rej) => {
          pending.push({ resolve: res, reject: rej });
          socket.write(`${JSON.stringify(req)}\n`);
        }),
        close: async () => void socket.end(),
      });
    });
  });
}
