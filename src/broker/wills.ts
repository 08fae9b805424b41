import type { Logger } from 'pino';
import { authorizeWill } from '../auth/will.js';
import type { ClientInfo, DropReason, Message, WillRecord } from '../model.js';
import type { HookRunner } from '../hooks.js';
import type { Journal } from './persistence/journal.js';
import { expiresAtOf, type MessageIds } from './message.js';
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
  /** Routes a will like any published message. */
  dispatch(message: Message): void;
  /** Counts and reports a will that was not published. */
  dropped(clientId: string, message: Message, reason: DropReason): void;
}

/**
 * Wills: published when a connection ends without DISCONNECT 0x00 [MQTT-3.1.2-8], at once or after
 * their Will Delay Interval, and at the latest when the session ends [MQTT-3.1.3-9].
 */
export class Wills {
  readonly #host: WillHost;
  /** The client that left a delayed will, so its publication is authorized as that client. */
  readonly #clients = new Map<string, ClientInfo>();

  constructor(host: WillHost) {
    this.#host = host;
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
      this.#host.dispatch(message);
    };
    authorizeWill(this.#host.hooks, this.#host.logger, client, message, publish, (reason) => this.#host.dropped(clientId, message, reason));
  }

  /** A connection of `session` ended; `willOnClose` is false after a normal DISCONNECT [MQTT-3.1.2-10]. */
  connectionEnded(session: Session, willOnClose: boolean, client: ClientInfo | undefined): void {
    const will = session.will;
    if (!will || !willOnClose) return;
    // [MQTT-3.1.3-9] the will waits for its delay, but not beyond the end of the session
    if (will.delayInterval === 0 || session.expiryInterval === 0) {
      session.will = undefined;
      this.publish(session.clientId, will, client);
    } else {
      if (client) this.#clients.set(session.clientId, client);
      this.#host.sessions.scheduleWill(session, Math.min(will.delayInterval, session.expiryInterval));
    }
  }

  /** The will delay passed, or the session ended first: the will goes out unless the client is back. */
  due(session: Session): void {
    const will = session.will;
    session.will = undefined;
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
