import type { ClientInfo, WillRecord } from '../model.js';
import type { AuthExchange } from '../hooks.js';
import type { ConnectPacket } from '../protocol/codec.js';

/** A connection's authentication: its method, and the enhanced exchange in progress, if any. */
export interface Authentication {
  /** The Authentication Method of the CONNECT; undefined for plain credentials [MQTT-4.12]. */
  readonly method: string | undefined;
  /** The exchange waiting for the client's next AUTH 0x18, if any. */
  exchange: OpenExchange | undefined;
}

/** An exchange the broker answered with AUTH 0x18 (Continue authentication). */
export interface OpenExchange {
  readonly value: AuthExchange & { step: number };
  /** The plugin that asked to continue; the next step resumes there. */
  readonly resumeAt: number;
  /** The CONNECT being authenticated; undefined for a re-authentication. */
  readonly connect: PendingConnect | undefined;
}

/** What the CONNECT handler decided before authentication, to finish the CONNECT once it succeeds. */
export interface PendingConnect {
  readonly packet: ConnectPacket;
  readonly clientId: string;
  readonly assignedClientId: string | undefined;
  readonly will: WillRecord | undefined;
  /** The client as presented, before a plugin changes its username. */
  readonly info: ClientInfo;
}
