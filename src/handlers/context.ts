import type { Logger } from 'pino';
import type { HookRunner } from '../hooks.js';
import type { ResolvedOptions } from '../options.js';
import type { MessageIds } from '../broker/message.js';
import type { Router } from '../broker/router.js';
import type { SessionRegistry } from '../broker/session-registry.js';
import type { Stats } from '../broker/stats.js';
import type { Store } from '../store/store.js';
import type { Journal } from '../broker/persistence/journal.js';
import type { AcceptedConnection } from '../connection/connection.js';
import type { Publisher } from '../broker/publisher.js';
import type { Wills } from '../broker/wills.js';
import type { Drops } from '../broker/drops.js';
import type { CommitGate } from '../broker/persistence/commit-gate.js';
import type { CommitAck } from './commit.js';
import type { ClientInfo, Message } from '../model.js';

/** What handlers ask of the cluster node (src/cluster/cluster.ts). */
export interface ClusterIngress {
  /** Whether the cluster engine is reachable. */
  readonly connected: boolean;
  /** A resent QoS 2 PUBLISH of a packet id awaiting PUBREL: what its PUBREC waits for (its message stored under the id recorded for it). */
  resent(client: ClientInfo, packetId: number, message: () => Message | null): Promise<void> | undefined;
}

/** What handlers share: built once by createBroker and passed to every handler. */
export interface BrokerContext {
  readonly options: ResolvedOptions;
  readonly logger: Logger;
  readonly hooks: HookRunner;
  readonly sessions: SessionRegistry;
  readonly router: Router;
  readonly store: Store;
  /** Mirrors session deliveries into the store; restore counts message references through it. */
  readonly journal: Journal;
  /** With a durable store: holds acknowledgements and QoS 1/2 sends until their records are committed. */
  readonly gate: CommitGate<AcceptedConnection, CommitAck> | undefined;
  readonly stats: Stats;
  readonly messageIds: MessageIds;
  /** Transform → retain → route → notify: the central step of every PUBLISH. */
  readonly publisher: Publisher;
  /** The one writer of sessions' wills. */
  readonly wills: Wills;
  /** Counts and reports every message that does not reach a receiver. */
  readonly drops: Drops;
  /** Cluster mode (undefined: one process). */
  readonly cluster: ClusterIngress | undefined;
  /**
   * Cluster mode: makes this node the owner of a client's session before its CONNECT completes
   * (taking it over from another node, restoring it when it resumes); undefined: one process.
   */
  readonly ownership?: { acquire(clientId: string, cleanStart: boolean, closed: () => boolean): Promise<void> } | undefined;
  /** Open connections by client id (one per client id). */
  readonly connections: Map<string, AcceptedConnection>;
}
