import type { Logger } from 'pino';
import type { HookRunner } from '../hooks.js';
import type { ResolvedOptions } from '../options.js';
import type { ClientInfo, Message, WillRecord } from '../model.js';
import type { MessageIds } from '../broker/message.js';
import type { Router } from '../broker/router.js';
import type { SessionRegistry } from '../broker/session-registry.js';
import type { Stats } from '../broker/stats.js';
import type { Store } from '../store/store.js';
import type { Journal } from '../broker/persistence/journal.js';
import type { Connection } from '../connection/connection.js';
import type { Bridge } from '../bridge/bridge.js';
import type { CommitGate } from '../broker/persistence/commit-gate.js';
import type { CommitAck } from './commit.js';

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
  readonly gate: CommitGate<Connection, CommitAck> | undefined;
  readonly stats: Stats;
  readonly messageIds: MessageIds;
  /** Log streams fed by bridge rules; gates acknowledgements under the 'block' overflow policy. */
  readonly bridge: Bridge;
  /** Open connections by client id (one per client id). */
  readonly connections: Map<string, Connection>;
  /** Runs onPublish transforms, routes the message and tells observers; returns the number of receivers. */
  dispatchMessage(message: Message, client: ClientInfo | undefined): number;
  /** Publishes a client's will message. */
  publishWill(clientId: string, will: WillRecord, client?: ClientInfo): void;
}
