import path from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { BrokerError } from './errors.js';
import type { Message, PeerCertificate } from './model.js';
import { createLogger } from './logger.js';
import { Metrics } from './metrics/metrics.js';
import { Operations } from './metrics/operations.js';
import { packageVersion } from './package.js';
import { resolveOptions, type BrokerOptions, type ResolvedOptions } from './options.js';
import { expiresAtOf, messagePropertiesOf, type PublishInput } from './broker/message.js';
import { createCore } from './broker/core.js';
import type { FlowControl, FlowStatus } from './broker/flow.js';
import { BrokerAdmin } from './broker/admin.js';
import { connectionEnded } from './broker/disconnect.js';
import { Stats } from './broker/stats.js';
import { Connection, type ConnectionHost } from './connection/connection.js';
import { dispatch } from './handlers/index.js';
import type { BrokerContext } from './handlers/context.js';
import { PublishEncoder } from './protocol/publish-encoder.js';
import { isValidTopicName } from './protocol/topic.js';
import { restoreState } from './broker/persistence/restore.js';
import { MqttListeners } from './transport/listeners.js';
import { KeepaliveSweep } from './connection/keepalive.js';
import { createSecurity, type Security } from './auth/security.js';
import { Admission } from './connection/admission.js';
import { anonymousWarning } from './auth/exposure.js';
import type { Bridge } from './bridge/bridge.js';
import type { Log } from './bridge/log.js';
import type { MqttBridges } from './mqtt-bridge/bridges.js';
import { resolveMqttBridges, type MqttBridgeOptions } from './mqtt-bridge/config.js';
import { hostname } from 'node:os';
import type { ClusterNode } from './cluster/cluster.js';

/** Where the listeners are bound (undefined when disabled). */
export interface ListenAddresses {
  readonly tcp: { host: string; port: number } | undefined;
  readonly ws: { host: string; port: number; path: string } | undefined;
  /** MQTT over TLS, when a certificate is configured. */
  readonly tls?: { host: string; port: number } | undefined;
  /** MQTT over secure WebSocket, when a certificate is configured. */
  readonly wss?: { host: string; port: number; path: string } | undefined;
  readonly http: { host: string; port: number } | undefined;
}

/** What the start line tells beyond the options. */
export interface StartInfo {
  /** The config file the options were read from. */
  readonly configFile?: string | undefined;
}

/** A snapshot of one session, from `broker.session(clientId)`. */
export interface SessionInfo {
  readonly connected: boolean;
  readonly subscriptions: number;
  /** QoS 1/2 messages sent and not yet acknowledged. */
  readonly inflight: number;
  /** Messages waiting, in memory and (with paging) on disk. */
  readonly queued: number;
  /** Of those, how many are held in memory. */
  readonly queuedInMemory: number;
}

/** How often expired retained messages are removed, in ms. */
const RETAINED_SWEEP_MS = 1000;

/** The broker: wires the modules, owns the listeners, and offers programmatic publish. */
export class Broker {
  readonly options: ResolvedOptions;
  readonly logger: Logger;
  readonly stats = new Stats();
  /** Prometheus metrics on a registry of this broker's own (served at /metrics). */
  readonly metrics = new Metrics();
  readonly version = packageVersion();
  /** The operator's view: clients, sessions, subscriptions and retained messages, kick and delete (the admin API uses it). */
  readonly admin: BrokerAdmin;
  readonly #ctx: BrokerContext;
  readonly #connections = new Set<Connection>();
  readonly #keepalive = new KeepaliveSweep(this.#connections, (err) => this.logger.error({ err }, 'keepalive check failed'));
  readonly #encoder = new PublishEncoder();
  /** What every Connection shares: one object, so an idle connection costs less. */
  readonly #connectionHost: ConnectionHost;
  #retainedSweep: NodeJS.Timeout | undefined;
  readonly #listeners: MqttListeners;
  readonly #security: Security;
  readonly #admission: Admission;
  readonly #operations = new Operations();
  #listening = false;
  #started: Promise<void> | undefined;
  #closing = false;
  #ready = false;
  #slowConsumers = 0;
  /** listen() failed: the broker never started, so close() does not say it stopped. */
  #startFailed = false;
  readonly #about: StartInfo;
  /** The log bridge (an ordinary plugin of the core), opened after restore and closed before the store. */
  readonly #bridge: Bridge;
  /** The MQTT bridges to other brokers (the `bridges` option), started after restore, stopped before sessions are saved. */
  readonly #mqttBridges: MqttBridges;
  /** Cluster mode: this node of the cluster (undefined: one process). */
  readonly #cluster: ClusterNode | undefined;
  readonly #flow: FlowControl | undefined;

  /** `about`: what the start line says beyond the options (the `midge` command passes its config file). */
  constructor(input: BrokerOptions = {}, about: StartInfo = {}) {
    this.options = resolveOptions(input);
    this.#about = about;
    this.logger = this.options.logger ?? createLogger(this.options.logLevel, this.options.logFormat);
    this.#listeners = new MqttListeners(this.options, this.logger);
    // Built-in security plugins (password file, JWT, ACL) come before the user's; a bad file stops the start here
    this.#security = createSecurity(this.options);
    this.#admission = new Admission(this.options.maxConnections, this.options.maxConnectionsPerIp);
    const core = createCore(this.options, this.logger, this.stats, [this.metrics, ...this.#security.plugins, ...this.options.plugins]);
    this.#ctx = core.ctx;
    this.admin = new BrokerAdmin({ connections: core.ctx.connections, sessions: core.ctx.sessions, router: core.ctx.router });
    this.#bridge = core.bridge;
    this.#mqttBridges = core.mqttBridges;
    this.#cluster = core.cluster;
    this.#flow = core.flow;
    this.#connectionHost = {
      logger: this.logger,
      encoder: this.#encoder,
      stats: this.stats,
      limits: this.options,
      stalled: () => this.#slowConsumers++,
      dispatch: (c, packet) => dispatch(this.#ctx, c, packet),
      released: (c) => this.#admission.delete(c.remoteAddress),
      closed: (c) => {
        this.#connections.delete(c);
        connectionEnded(this.#ctx, c, this.#closing);
      },
      keepaliveDue: (at) => this.#keepalive.due(at),
    };
  }

  /** Number of connected clients. */
  get clientCount(): number {
    return this.#ctx.connections.size;
  }

  /** Cluster mode: this node's figures (`status()`) and JetStream append latencies (`appends.observe`); undefined for one process. */
  get cluster(): Pick<ClusterNode, 'status' | 'appends'> | undefined {
    return this.#cluster;
  }

  /** Number of sessions (connected or not). */
  get sessionCount(): number {
    return this.#ctx.sessions.size;
  }

  /** What a session holds now, or undefined if there is none. */
  session(clientId: string): SessionInfo | undefined {
    const s = this.#ctx.sessions.get(clientId);
    if (!s) return undefined;
    return {
      connected: s.connected,
      subscriptions: s.subscriptionCount,
      inflight: s.inflightCount,
      queued: s.queuedCount,
      queuedInMemory: s.queuedInMemoryCount,
    };
  }

  /** Number of retained messages. */
  get retainedCount(): number {
    return this.#ctx.router.retainedCount;
  }

  /** Restores from the store (once) and starts the configured listeners. */
  async listen(): Promise<ListenAddresses> {
    await this.start();
    const onStream = (listener: string) => (stream: Duplex, address: string | undefined, certificate?: PeerCertificate) =>
      this.handle(stream, listener, address, certificate);
    try {
      await this.#listeners.start(onStream);
      await this.#operations.start(this, () => this.#notReady());
    } catch (err) {
      this.#startFailed = true;
      await this.close();
      throw err;
    }
    this.#listening = true;
    const addresses = this.addresses();
    this.logger.info({ version: this.version, ...this.#storeFacts(), tcp: addresses.tcp, ws: addresses.ws, tls: addresses.tls, wss: addresses.wss, http: addresses.http }, 'midge listening');
    const warning = anonymousWarning(addresses, this.#ctx.hooks.has('authenticate'), this.options.allowAnonymous);
    if (warning) this.logger.warn(warning);
    return addresses;
  }

  /** The start line's facts: config file, store, data directory and durability mode. */
  #storeFacts(): Record<string, unknown> {
    const { store, dataDir, durability } = this.options;
    const kind = typeof store === 'string' ? store : 'custom';
    const level = kind === 'level';
    return { config: this.#about.configFile, store: kind, dataDir: level ? path.resolve(dataDir) : undefined, durability: level ? durability : undefined };
  }

  /**
   * Rereads the password, ACL and JWKS files (SIGHUP). Connections stay; new checks use the new
   * rules. On an error (ERR_SECURITY_FILE) every current rule stays in place.
   */
  reloadSecurity(): void {
    this.#security.reload();
    this.logger.info('security files reloaded');
  }

  /**
   * Applies a new `bridges` configuration (SIGHUP): added bridges start, changed ones reconnect with
   * their new settings (their backlog stays), removed ones end their session. A configuration that
   * does not validate throws ERR_INVALID_OPTION and changes nothing.
   */
  async reloadBridges(bridges: MqttBridgeOptions[] | undefined): Promise<void> {
    const configs = resolveMqttBridges(bridges, hostname());
    await this.#mqttBridges.reload(configs);
    this.logger.info({ bridges: configs.map((c) => c.name) }, 'mqtt bridges reloaded');
  }

  /** The MQTT bridges: `status()` gives each one's link state, backlog and counters. */
  get mqttBridges(): MqttBridges {
    return this.#mqttBridges;
  }

  /** Open connections (with or without CONNECT) and connections refused by maxConnections / maxConnectionsPerIp. */
  get connectionStats(): { open: number; refused: number; slowConsumersDisconnected: number } {
    return { open: this.#admission.size, refused: this.#admission.refused, slowConsumersDisconnected: this.#slowConsumers };
  }

  #notReady(): string | undefined {
    if (this.#closing) return 'shutting down';
    if (!this.#ready) return 'store not open';
    if (!this.#listening) return 'listeners not bound';
    if (this.#ctx.cluster?.connected === false) return 'cluster engine (NATS) unreachable';
    return undefined;
  }

  /** Sums over all sessions, for metrics and $SYS (a scan: call it per scrape, not per message). */
  totals(): { inflight: number; queued: number; subscriptions: number } {
    let inflight = 0;
    let queued = 0;
    let subscriptions = 0;
    for (const s of this.#ctx.sessions.values()) {
      inflight += s.inflightCount;
      queued += s.queuedCount;
      subscriptions += s.subscriptionCount;
    }
    return { inflight, queued, subscriptions };
  }

  /** Flow control now: publishers and acknowledgements held back, sessions holding them (all 0 when it is off). */
  flowStatus(): FlowStatus {
    return this.#flow?.status() ?? { publishersHeld: 0, acknowledgementsHeld: 0, acknowledgementsHeldTotal: 0, sessionsHolding: 0 };
  }

  /** The `limit` deepest session queues (messages waiting, memory and disk), deepest first; empty queues are left out. */
  queueDepths(limit: number): { clientId: string; queued: number; holding: boolean }[] {
    const depths: { clientId: string; queued: number; holding: boolean }[] = [];
    for (const s of this.#ctx.sessions.values()) {
      if (s.queuedCount > 0) depths.push({ clientId: s.clientId, queued: s.queuedCount, holding: s.holding });
    }
    depths.sort((a, b) => b.queued - a.queued);
    return depths.slice(0, limit);
  }

  /** Calls `observer` after each store commit with its write count and duration; false when the store does not commit (memory). */
  observeCommits(observer: (operations: number, ms: number) => void): boolean {
    const { store } = this.#ctx;
    if (store.observeCommits === undefined) return false;
    store.observeCommits(observer);
    return true;
  }

  /** The bound addresses of the running listeners. */
  addresses(): ListenAddresses {
    return { ...this.#listeners.addresses(), http: this.#operations.httpAddress };
  }

  /** The embedded log: `read(stream, { from, limit })`, `follow(stream, ...)`, `stat`, `list`, consumer groups. */
  get log(): Log {
    return this.#bridge.log;
  }

  /** The bridge: `status()` gives per-sink state and lag (records, seconds) for metrics. */
  get bridge(): Bridge {
    return this.#bridge;
  }

  /** Restores state from the store and runs plugin init hooks; idempotent. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      const state = await this.#ctx.store.open({ queuePage: this.options.queuePageSize });
      restoreState(this.#ctx, state);
      await this.#bridge.open();
      await this.#mqttBridges.start();
      for (const plugin of this.#ctx.hooks.plugins) await plugin.init?.(this);
      // Expired retained messages leave memory and the store even if nobody subscribes [MQTT-3.3.2-5]
      this.#retainedSweep = setInterval(() => this.#ctx.router.sweepRetained(Date.now()), RETAINED_SWEEP_MS).unref();
      this.#keepalive.start();
      this.#ready = true;
    })();
    return this.#started;
  }

  /** Serves one client over any Duplex stream (the transports call this; so can embedders). */
  handle(stream: Duplex, listener = 'custom', remoteAddress?: string, certificate?: PeerCertificate): void {
    // Clients are served only once the store is restored, so no session can be replaced under them
    if (!this.#ready) throw new BrokerError('ERR_NOT_STARTED', 'await broker.start() or broker.listen() first');
    if (this.#closing) {
      stream.destroy();
      return;
    }
    // maxConnections / maxConnectionsPerIp: refused before anything is read, so a flood costs no parsing
    if (!this.#admission.add(remoteAddress)) {
      this.logger.debug({ listener, address: remoteAddress }, 'connection refused: connection limit');
      stream.destroy();
      return;
    }
    const conn = new Connection(stream, listener, remoteAddress, this.#connectionHost, certificate);
    this.#connections.add(conn);
  }

  /** Publishes a message as the broker itself. Resolves once it is routed and mirrored to the store. */
  async publish(input: PublishInput): Promise<void> {
    await this.start();
    if (!isValidTopicName(input.topic)) throw new BrokerError('ERR_TOPIC_NAME_INVALID', JSON.stringify(input.topic));
    const expiry = input.properties?.messageExpiryInterval;
    const message: Message = {
      id: this.#ctx.messageIds.next(),
      topic: input.topic,
      payload: typeof input.payload === 'string' ? Buffer.from(input.payload) : input.payload,
      qos: input.qos ?? 0,
      retain: input.retain ?? false,
      properties: messagePropertiesOf(input.properties),
      expiresAt: expiresAtOf(expiry),
      origin: undefined,
    };
    this.#encoder.check(message); // refuse here what no subscriber could be sent
    this.#ctx.publisher.publish(message, undefined);
    await this.#ctx.store.flush();
  }

  /** Stops accepting, disconnects clients (MQTT 5: DISCONNECT 0x8B), saves sessions and closes the store. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#retainedSweep);
    this.#keepalive.stop();
    this.#operations.stopPublishing();
    const listeners = this.#listeners.close(); // stops accepting; done once every connection has ended
    if (this.#cluster?.connected === true) {
      // Acknowledgements waiting for JetStream appends go out before the connections close (bounded)
      await this.#cluster.settle();
      await this.#ctx.store.flush().catch(() => undefined);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const closed = [...this.#connections].map((conn) => conn.closeForShutdown());
    await Promise.all([listeners, ...closed]);
    const { sessions, store, messageIds } = this.#ctx;
    await this.#mqttBridges.close();
    sessions.stop();
    await this.#bridge.close();
    for (const session of sessions.values()) this.#ctx.journal.saveSession(session);
    if (!store.durable) this.#ctx.journal.snapshot(sessions.values());
    store.saveMessageIdFloor(messageIds.next());
    // A store that cannot commit now (cluster mode with NATS gone) is reported; the shutdown still completes
    await store.flush().catch((err: unknown) => this.logger.error({ err }, 'cannot commit the last writes at shutdown'));
    await store.close();
    for (const plugin of this.#ctx.hooks.plugins) await plugin.close?.();
    // Last, so that /readyz answers 503 for as long as the shutdown takes
    await this.#operations.close();
    if (!this.#startFailed) this.logger.info('midge stopped');
  }

}

/** Creates a broker; call `listen()` to start it. */
export function createBroker(options: BrokerOptions = {}): Broker {
  return new Broker(options);
}
