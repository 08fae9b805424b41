import type { ClientInfo } from '../model.js';
import type { Session } from '../broker/session.js';
import type { OutboundAliases } from './outbound-aliases.js';

/** What the CONNECT handler decided about a client it accepts; see AcceptedClient. */
export interface Acceptance {
  readonly info: ClientInfo;
  readonly session: Session;
  /** The client's Receive Maximum (65535 when it sent none) [MQTT-3.3.4-9]. */
  readonly receiveMaximum: number;
  /** The keepalive in force, in seconds (MQTT 5: the Server Keep Alive when the broker set one). */
  readonly keepalive: number;
  /** Outbound topic aliases, when the client accepts them and the broker sends them [MQTT-3.1.2-26]. */
  readonly outboundAliases: OutboundAliases | undefined;
}

/**
 * The protocol facts of an accepted client, set once at CONNACK (Connection.accept) and read by
 * every handler after it. Only two things change afterwards, each with one writer: the username,
 * which a re-authentication may change (handlers/auth.ts), and the inbound topic aliases the
 * client defines in its PUBLISH packets (handlers/publish.ts).
 */
export class AcceptedClient {
  readonly session: Session;
  readonly receiveMaximum: number;
  readonly keepalive: number;
  readonly outboundAliases: OutboundAliases | undefined;
  /** When the CONNACK went out (Date.now()). */
  readonly connectedAt = Date.now();
  #info: ClientInfo;
  /** Inbound topic aliases (MQTT 5 section 3.3.2.3.4), created with the first one. */
  #topicAliases: Map<number, string> | undefined;

  constructor(acceptance: Acceptance) {
    this.#info = acceptance.info;
    this.session = acceptance.session;
    this.receiveMaximum = acceptance.receiveMaximum;
    this.keepalive = acceptance.keepalive;
    this.outboundAliases = acceptance.outboundAliases;
  }

  /** The client id. */
  get id(): string {
    return this.#info.id;
  }

  /** Who the client is, as plugins see it. */
  get info(): ClientInfo {
    return this.#info;
  }

  /** A re-authentication succeeded with another username [MQTT-4.12.1]. */
  reauthenticated(username: string | undefined): void {
    if (username !== this.#info.username) this.#info = { ...this.#info, username };
  }

  /** The topic an inbound Topic Alias stands for, if the client defined it on this connection. */
  topicAlias(alias: number): string | undefined {
    return this.#topicAliases?.get(alias);
  }

  /** The client (re)defines an inbound Topic Alias; it lasts as long as the connection [MQTT-3.3.2-7]. */
  setTopicAlias(alias: number, topic: string): void {
    (this.#topicAliases ??= new Map()).set(alias, topic);
  }
}
