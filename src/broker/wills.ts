import type { Logger } from 'pino';
import { authorizeWill } from '../auth/will.js';
import type { HookRunner } from '../hooks.js';
import type { ClientInfo, Message, WillRecord } from '../model.js';
import type { SessionRecord } from '../store/store.js';
import type { Drops } from './drops.js';
import { expiresAtOf, type MessageIds } from './message.js';
import type { Journal } from './persistence/journal.js';
import type { Publisher } from './publisher.js';
import type { Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';

/** What Wills needs from the broker. */
export interface WillHost {
  readonly hooks: HookRunner;
  readonly logger: Logger;
  readonly messageIds: MessageIds;
  readonly sessions: SessionRegistry;
  /** Mirrors session records into the store. */
  readonly journal: Journal;
  readonly publisher: Publisher;
  readonly drops: Drops;
  /**
   * Cluster mode: resolves true once this node's ownership of the client's session is confirmed
   * by a committed write (so one node only publishes a will, however many believe they own it).
   */
  readonly claim?: ((clientId: string) => Promise<boolean>) | undefined;
}

/**
 * Wills, the only writer of a session's will: set at CONNECT, discarded by a normal DISCONNECT
 * [MQTT-3.1.2-10], published when a connection ends otherwise [MQTT-3.1.2-8], at once or after
 * its Will Delay Interval, and at the latest when the session ends [MQTT-3.1.3-9].
 */
export class Wills {
  readonly #host: WillHost;
  /** The client that left a delayed will, so its publication is authorized as that client. */
  readonly #clients = new Map<string, ClientInfo>();

  constructor(host: WillHost) {
    this.#host = host;
  }

  /** CONNECT: the will of the new connection replaces whatever the session had [MQTT-3.1.2-9]. */
  set(session: Session, will: WillRecord | undefined): void {
    session.replaceWill(will);
  }

  /** DISCONNECT 0x00: the will is discarded without being published [MQTT-3.1.2-10] [MQTT-3.14.4-3]. */
  discard(session: Session): void {
    session.replaceWill(undefined);
  }

  /** At start: the will a stored session had. */
  restore(session: Session, record: SessionRecord): void {
    session.replaceWill(record.will);
  }

  /** Publishes a will, once the authorizePublish gates allow it (src/auth/will.ts); a refused will is dropped. */
  publish(clientId: string, will: WillRecord, client?: ClientInfo): void {
    const message: Message = {
      id: this.#host.messageIds.next(),
      topic: will.topic,
      payload: will.payload,
      qos: will.qos,
      retain: will.retain, // the will keeps its RETAIN flag and QoS
      properties: will.properties,
      expiresAt: expiresAtOf(will.messageExpiryInterval),
      origin: clientId,
    };
    const publish = () => {
      this.#host.logger.debug({ clientId, topic: will.topic }, 'publishing will');
      this.#host.publisher.publish(message, undefined);
    };
    const authorized = () => authorizeWill(this.#host.hooks, this.#host.logger, client, message, publish, (reason) => this.#host.drops.add(clientId, message, reason));
    const claim = this.#host.claim;
    if (claim === undefined) {
      authorized();
      return;
    }
    claim(clientId).then(
      (owned) => (owned ? authorized() : this.#host.logger.info({ clientId, topic: will.topic }, 'will not published here: another node owns the session')),
      (err: unknown) => this.#host.logger.error({ err, clientId }, 'cannot confirm the ownership of a session; its will is not published'),
    );
  }

  /** A connection of `session` ended without DISCONNECT 0x00 (which discarded the will): its will applies. */
  connectionEnded(session: Session, client: ClientInfo | undefined): void {
    const will = session.will;
    if (!will) return;
    // [MQTT-3.1.3-9] the will waits for its delay, but not beyond the end of the session
    if (will.delayInterval === 0 || session.expiryInterval === 0) {
      session.replaceWill(undefined);
      this.publish(session.clientId, will, client);
    } else {
      if (client) this.#clients.set(session.clientId, client);
      this.#host.sessions.scheduleWill(session, Math.min(will.delayInterval, session.expiryInterval));
    }
  }

  /**
   * [MQTT-3.1.4-3] Another connection took the session over: the old connection ended abnormally,
   * so its will goes out unless a will delay outlasts the takeover, and at the latest when a clean
   * start ends the session [MQTT-3.1.3-9]. A will kept for later is replaced by the new CONNECT's.
   */
  takenOver(session: Session, cleanStart: boolean, client: ClientInfo | undefined): void {
    const will = session.will;
    if (will && (will.delayInterval === 0 || cleanStart)) this.publish(session.clientId, will, client);
  }

  /** The will delay passed, or the session ended first: the will goes out unless the client is back. */
  due(session: Session): void {
    const will = session.will;
    session.replaceWill(undefined);
    const client = this.#clients.get(session.clientId);
    this.#clients.delete(session.clientId);
    if (will && !session.connected) this.publish(session.clientId, will, client);
    // The store must not keep a will that went out, or a restart would publish it again
    if (this.#host.sessions.get(session.clientId) === session) this.#host.journal.saveSession(session);
  }

  /** The session ended: nothing is remembered for it. */
  forget(clientId: string): void {
    this.#clients.delete(clientId);
  }
}
