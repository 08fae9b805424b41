import path from 'node:path';
import type { Logger } from 'pino';
import { Bridge } from '../bridge/bridge.js';
import { ClusterCatchUp } from '../cluster/catch-up.js';
import { ClusterNode } from '../cluster/cluster.js';
import { ClusterSessions } from '../cluster/sessions.js';
import { ClusterStore } from '../cluster/session-store.js';
import { MqttBridges } from '../mqtt-bridge/bridges.js';
import type { AcceptedConnection } from '../connection/connection.js';
import { refuseUnstored, type CommitAck } from '../handlers/commit.js';
import type { BrokerContext } from '../handlers/context.js';
import { HookRunner, type Plugin } from '../hooks.js';
import type { ClientInfo, Message } from '../model.js';
import type { ResolvedOptions } from '../options.js';
import { LevelStore } from '../store/level.js';
import { MemoryStore } from '../store/memory.js';
import type { Store } from '../store/store.js';
import { Drops } from './drops.js';
import { FlowControl } from './flow.js';
import { MessageIds } from './message.js';
import { CommitGate } from './persistence/commit-gate.js';
import { Journal } from './persistence/journal.js';
import { createPager } from './persistence/pager.js';
import { Publisher } from './publisher.js';
import { DiskBudget } from './queue.js';
import { Router } from './router.js';
import type { SessionEvents } from './session.js';
import { SessionRegistry, type SessionLifecycle } from './session-registry.js';
import { storeFailed, type Stats } from './stats.js';
import { Wills } from './wills.js';

/** The broker's core, as createCore builds it: what handlers share, the log bridge, the MQTT bridges and flow control. */
export interface Core {
  readonly ctx: BrokerContext;
  readonly bridge: Bridge;
  readonly mqttBridges: MqttBridges;
  /** Cluster mode: this node (undefined: one process). */
  readonly cluster: ClusterNode | undefined;
  /** Undefined when flow control is off (stallTimeout 0). */
  readonly flow: FlowControl | undefined;
}

/**
 * Builds every part of the broker's core and wires them together (STYLE.md: createBroker builds
 * every object and passes dependencies in): the store and what writes to it (journal, pager,
 * commit gate), sessions, the router, the publisher, wills, drop accounting and the plugin hooks.
 * `plugins` come before the log bridge, which is an ordinary plugin, and the cluster node (cluster
 * mode), which the publisher forwards to and the router reports interest to.
 */
export function createCore(options: ResolvedOptions, logger: Logger, stats: Stats, plugins: readonly Plugin[]): Core {
  const failed = (err: unknown) => storeFailed(stats, logger, err, {}, 'store commit failed');
  // Cluster mode: sessions live in JetStream (src/cluster/session-store.ts); the local store keeps what is node-local
  const local = createStore(options, failed);
  const clusterStore = options.cluster ? new ClusterStore(local) : undefined;
  const store = clusterStore ?? local;
  let clusterSessions: ClusterSessions | undefined;
  // Cluster mode with flow control: stored messages a consuming subscriber's full queue leaves out are read back from the stream
  const catchUp: ClusterCatchUp | undefined =
    clusterStore && options.stallTimeout > 0
      ? new ClusterCatchUp({ logger, stallTimeout: options.stallTimeout, store: clusterStore, current: (session): boolean => sessions.get(session.clientId) === session })
      : undefined;
  const bridge = new Bridge(options.bridge, store, logger, {}, options.cluster);
  // Routes and wills need the registry, and the registry's callbacks need them: bound late, once
  let router!: Router;
  let wills!: Wills;
  const messageIds = new MessageIds();
  const cluster =
    options.cluster &&
    new ClusterNode(options.cluster, {
      logger,
      route: (message) => router.publish(message),
      routeShared: (message, filter, group) => router.publishShared(message, filter, group),
      sharedConnected: (filter, group) => router.sharedConnected(filter, group),
      committed: () => store.flush(),
      dropped: (message, reason) => drops.add(undefined, message, reason),
      retain: (message) => router.retain(message),
      nextMessageId: () => messageIds.next(),
      sessionCount: (): number => sessions.size,
      joined: (engine) => {
        clusterSessions?.join(engine);
        catchUp?.join(engine);
        bridge.joinCluster({ nc: engine.nc, js: engine.js, jsm: engine.jsm, prefix: engine.prefix, owner: engine.owner });
      },
      leaving: () => {
        clusterSessions?.stop();
        catchUp?.stop();
      },
      catchUp: catchUp && (() => catchUp.figures()),
      inbound: clusterStore,
    });
  const mqttBridges = new MqttBridges(options.bridges, logger);
  const flow = options.stallTimeout > 0 ? new FlowControl(options.stallTimeout) : undefined;
  const builtIn = [bridge, mqttBridges, ...(flow ? [flow] : []), ...(cluster ? [cluster] : [])];
  const hooks = new HookRunner([...plugins, ...builtIn], (hook, err) => logger.error({ err, hook }, 'plugin observer threw'));
  const drops = new Drops(stats, hooks, logger);
  // Cluster mode writes every session's deliveries: its session records (src/cluster/session-store.ts) are built from them
  const journal = new Journal(store, { everySession: cluster !== undefined });
  // The gate refuses through the context, which exists once the gate does
  let ctx!: BrokerContext;
  const gate = store.durable
    ? new CommitGate<AcceptedConnection, CommitAck>(store, {
        send: (conn, ack) => conn.send(ack),
        refuse: (conn, ack, err) => refuseUnstored(ctx, conn, ack, err),
        failed,
      })
    : undefined;
  const limits = { maxMessages: options.maxQueuedMessages, maxBytes: options.maxQueuedBytes, policy: options.queueOverflow };
  const pager = createPager(store, options.queuePageSize);
  // Queues that page to disk: a persistent session's backlog is bounded by bytes on disk, within a broker-wide budget
  const disk = pager && options.maxQueuedDiskBytes > 0 ? { maxBytes: options.maxQueuedDiskBytes, budget: new DiskBudget(options.queueDiskBudget) } : undefined;
  const events: SessionEvents = {
    dropped: (session, message, reason) => drops.add(session.clientId, message, reason),
    reroute: (_session, delivery) => router.reroute(delivery),
    pageFailed: (session, err) => storeFailed(stats, logger, err, { clientId: session.clientId }, 'cannot read queued messages from the store'),
    delivered: (session, message) => {
      stats.messagesSent++;
      if (hooks.observes('onDelivered')) hooks.notify('onDelivered', session.clientId, message);
    },
  };
  const lifecycle: SessionLifecycle = {
    ended: (session, reason) => {
      wills.forget(session.clientId);
      router.unsubscribeAll(session);
      session.end();
      store.deleteSession(session.clientId);
      if (reason === 'expired') hooks.notify('onSessionExpired', session.clientId);
    },
    willDue: (session) => wills.due(session),
  };
  const readable = hooks.has('authorizeRead') ? (client: ClientInfo, message: Message) => hooks.authorizeRead(client, message) : undefined;
  const limitsOf = (clientId: string) => mqttBridges.limitsOf(clientId);
  const sessions = new SessionRegistry({ limits, limitsOf, maxInflight: options.maxInflight, events, journal, pager, gate, readable, flow, disk, catchUp }, lifecycle);
  router = new Router(sessions, store, options.sharedSubscriptionStrategy, (message) => drops.add(undefined, message, 'expired'));
  if (cluster) router.observeInterest(cluster);
  const publisher = new Publisher(hooks, router, drops, cluster, flow);
  const claim = clusterStore && ((clientId: string) => clusterStore.claim(clientId));
  wills = new Wills({ hooks, logger, messageIds, sessions, journal, publisher, drops, claim });
  const connections = new Map<string, AcceptedConnection>();
  const ownership = clusterStore && { acquire: (clientId: string, cleanStart: boolean, closed: () => boolean) => (clusterSessions as ClusterSessions).acquire(clientId, cleanStart, closed) };
  ctx = { options, logger, hooks, sessions, router, store, journal, gate, stats, messageIds, publisher, wills, drops, connections, cluster, ownership };
  if (clusterStore) clusterSessions = new ClusterSessions(ctx, clusterStore);
  mqttBridges.bind(ctx);
  return { ctx, bridge, mqttBridges, cluster: cluster || undefined, flow };
}

/** The store the options ask for. */
function createStore(options: ResolvedOptions, onError: (err: Error) => void): Store {
  if (options.store === 'memory') return new MemoryStore();
  if (options.store === 'level') return new LevelStore(path.resolve(options.dataDir), options.durability, onError);
  return options.store;
}
