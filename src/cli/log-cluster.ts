/**
 * `midge log` in cluster mode: reads the rule streams straight from NATS JetStream, so it works
 * from any node (or any machine that reaches NATS) while the cluster runs. Offsets are JetStream
 * stream sequences (the first record is 1).
 */
import type { KV, NatsConnection } from 'nats';
import { recordToJson, type AdminRequest } from '../bridge/admin.js';
import type { StreamStat } from '../bridge/log.js';
import { loadConfig } from '../config/load.js';
import { logStreamName, logSubject, readStream, ruleStreamOf, statOf } from '../cluster/log-streams.js';
import { streamBase } from '../cluster/streams.js';
import { UsageError } from './args.js';

/** The cluster to read: its NATS servers and the prefix of its streams. */
export interface ClusterTarget {
  readonly servers: string[];
  readonly prefix: string;
}

/** `--cluster URLS [--prefix P]`, or the `cluster` option of a node's config file; undefined for neither. */
export function clusterTarget(values: { cluster?: string | undefined; prefix?: string | undefined; config?: string | undefined }): ClusterTarget | undefined {
  let servers = values.cluster;
  let prefix = values.prefix;
  if (values.config !== undefined) {
    const cluster = loadConfig({ file: values.config }).cluster;
    if (cluster === undefined && servers === undefined) throw new UsageError(`${values.config} has no cluster option (midge log --config reads a cluster node's config)`);
    servers ??= cluster && [cluster.servers].flat().join(',');
    prefix ??= cluster?.prefix;
  }
  if (servers === undefined) {
    if (prefix !== undefined) throw new UsageError('--prefix goes with --cluster or --config');
    return undefined;
  }
  const list = servers.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new UsageError('--cluster expects nats://host:port[,...]');
  prefix ??= 'midge';
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(prefix)) throw new UsageError(`--prefix expects 1 to 32 of [A-Za-z0-9_-], got "${prefix}"`);
  return { servers: list, prefix };
}

/** Answers `midge log` requests from JetStream. */
export async function openClusterSource(target: ClusterTarget): Promise<{ live: boolean; request(req: AdminRequest): Promise<Record<string, unknown>>; close(): Promise<void> }> {
  const nats = await import('nats');
  let nc: NatsConnection;
  try {
    nc = await nats.connect({ servers: target.servers, name: 'midge-log', timeout: 5000, maxReconnectAttempts: 3 });
  } catch (err) {
    throw new UsageError(`cannot reach NATS at ${target.servers.join(',')}: ${(err as Error).message}`);
  }
  const jsm = await nc.jetstreamManager({ timeout: 5000 });
  const link = { js: nc.jetstream({ timeout: 5000 }), jsm, prefix: target.prefix };
  const groups = new Groups(nc, target.prefix);
  const stat = async (stream: string): Promise<StreamStat> => {
    let info;
    try {
      info = await jsm.streams.info(logStreamName(target.prefix, stream));
    } catch (err) {
      if (/not found/i.test((err as Error).message)) throw new Error(`unknown stream ${JSON.stringify(stream)} (no JetStream stream ${logStreamName(target.prefix, stream)})`);
      throw err;
    }
    return { ...statOf(stream, info, undefined), groups: await groups.of(stream) };
  };
  const handle = async (req: AdminRequest): Promise<Record<string, unknown>> => {
    if (req.op === 'list') {
      const streams: StreamStat[] = [];
      for await (const info of jsm.streams.list()) {
        const name = ruleStreamOf(target.prefix, info.config.name);
        if (name !== undefined) streams.push({ ...statOf(name, info, undefined), groups: await groups.of(name) });
      }
      return { streams: streams.sort((a, b) => a.name.localeCompare(b.name)) };
    }
    if (req.op === 'stat') return { stream: await stat(req.stream) };
    if (req.op === 'commit') return void (await groups.commit(req.stream, req.group, req.offset)), {};
    if (req.op === 'read') {
      const from = req.from ?? (req.group === undefined ? undefined : await groups.offset(req.stream, req.group));
      let records = await readStream(link, req.stream, { from, limit: req.limit });
      if (records.length === 0 && (req.waitMs ?? 0) > 0) {
        await waitForNotice(nc, logSubject(target.prefix, req.stream), req.waitMs as number);
        records = await readStream(link, req.stream, { from, limit: req.limit });
      }
      return { records: records.map(recordToJson) };
    }
    throw new UsageError(`${req.op} is not available in cluster mode`);
  };
  return { live: true, request: handle, close: () => nc.close() };
}

/** Resolves at the first append on `subject`, or after `ms`. */
function waitForNotice(nc: NatsConnection, subject: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const sub = nc.subscribe(subject, { max: 1, callback: () => done() });
    const timer = setTimeout(() => done(), ms);
    function done(): void {
      clearTimeout(timer);
      sub.unsubscribe();
      resolve();
    }
  });
}

const GROUP_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Consumer groups of the cluster log: the KV bucket `<PREFIX>_LOG_GROUPS`, key `<stream>/<group>`
 * (':' written '=', which KV keys allow and group names do not), value the next sequence to read.
 * The bucket is created by the first commit; reads of a cluster without one see no groups.
 */
class Groups {
  readonly #nc: NatsConnection;
  readonly #bucket: string;
  #kv: KV | undefined;

  constructor(nc: NatsConnection, prefix: string) {
    this.#nc = nc;
    this.#bucket = `${streamBase(prefix)}_LOG_GROUPS`;
  }

  async #open(create: boolean): Promise<KV | undefined> {
    if (this.#kv) return this.#kv;
    if (!create) {
      // A KV bucket is the stream KV_<bucket>: look before binding, so reading creates nothing
      const jsm = await this.#nc.jetstreamManager();
      const exists = await jsm.streams.info(`KV_${this.#bucket}`).then(() => true, (err: Error) => {
        if (/not found/i.test(err.message)) return false;
        throw err;
      });
      if (!exists) return undefined;
    }
    this.#kv = await this.#nc.jetstream().views.kv(this.#bucket, { history: 1 });
    return this.#kv;
  }

  #key(stream: string, group: string): string {
    if (!GROUP_NAME.test(group)) throw new UsageError(`group name ${JSON.stringify(group)}: use 1 to 128 letters, digits, '.', '_', ':' or '-'`);
    return `${stream}/${group.replaceAll(':', '=')}`;
  }

  async offset(stream: string, group: string): Promise<number | undefined> {
    const key = this.#key(stream, group);
    const entry = await (await this.#open(false))?.get(key);
    return entry && entry.operation === 'PUT' ? Number(entry.string()) : undefined;
  }

  async commit(stream: string, group: string, offset: number): Promise<void> {
    const key = this.#key(stream, group);
    await (await this.#open(true))?.put(key, String(offset));
  }

  /** Every group of `stream` with its committed offset. */
  async of(stream: string): Promise<Record<string, number>> {
    const kv = await this.#open(false);
    const out: Record<string, number> = {};
    if (!kv) return out;
    const head = `${stream}/`;
    for await (const key of await kv.keys()) {
      if (!key.startsWith(head)) continue;
      const entry = await kv.get(key);
      if (entry && entry.operation === 'PUT') out[key.slice(head.length).replaceAll('=', ':')] = Number(entry.string());
    }
    return out;
  }
}
