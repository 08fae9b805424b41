import type { Broker } from './broker.js';
import type { Message } from './broker/message.js';
import type { QoS } from './protocol/codec.js';
import type { ProtocolVersion } from './protocol/codec.js';

/** What plugins learn about a connected client. */
export interface ClientInfo {
  readonly id: string;
  readonly username: string | undefined;
  readonly protocolVersion: ProtocolVersion;
  readonly remoteAddress: string | undefined;
  /** The listener the client came in on: 'tcp', 'ws', or a custom name passed to `handle()`. */
  readonly listener: string;
}

/** Credentials presented in CONNECT. */
export interface Credentials {
  readonly username: string | undefined;
  readonly password: Buffer | undefined;
}

/** A subscription request as seen by `authorizeSubscribe`. */
export interface SubscriptionRequestInfo {
  readonly filter: string;
  readonly qos: QoS;
}

/** Why a message did not reach a subscriber (or was not accepted). */
export type DropReason =
  | 'queue-full'
  | 'expired'
  | 'packet-too-large'
  | 'slow-consumer'
  | 'not-authorized'
  | 'session-ended'
  | 'offline'
  | 'plugin-error'
  | 'refused'
  | 'unencodable'
  | 'payload-format-invalid';

/** A dropped message, reported through `onDropped`. */
export interface Drop {
  readonly clientId: string | undefined;
  readonly message: Message;
  readonly reason: DropReason;
}

/**
 * A plugin: an object with optional hooks, registered in order.
 * Gates are awaited and the first denial wins (return false, or throw a BrokerError to choose the
 * reason code). Transforms are synchronous. Observers are synchronous and must not throw.
 */
export interface Plugin {
  readonly name?: string;
  init?(broker: Broker): void | Promise<void>;
  close?(): void | Promise<void>;
  authenticate?(client: ClientInfo, credentials: Credentials): boolean | Promise<boolean>;
  authorizePublish?(client: ClientInfo, message: Message): boolean | Promise<boolean>;
  authorizeSubscribe?(client: ClientInfo, subscription: SubscriptionRequestInfo): boolean | Promise<boolean>;
  onPublish?(client: ClientInfo | undefined, message: Message): Message | null;
  onConnected?(client: ClientInfo): void;
  onDisconnected?(client: ClientInfo, reason: string): void;
  onPublished?(message: Message, client: ClientInfo | undefined): void;
  onDelivered?(clientId: string, message: Message): void;
  onDropped?(drop: Drop): void;
  onSessionExpired?(clientId: string): void;
}

type GateName = 'authenticate' | 'authorizePublish' | 'authorizeSubscribe';
type ObserverName = 'onConnected' | 'onDisconnected' | 'onPublished' | 'onDelivered' | 'onDropped' | 'onSessionExpired';
type Fn<K extends keyof Plugin> = NonNullable<Plugin[K]>;

const GATES: readonly GateName[] = ['authenticate', 'authorizePublish', 'authorizeSubscribe'];
const OBSERVERS: readonly ObserverName[] = ['onConnected', 'onDisconnected', 'onPublished', 'onDelivered', 'onDropped', 'onSessionExpired'];

/** Reports an observer that threw; observers must not throw, so this is only logged. */
export type ObserverErrorSink = (hook: string, err: unknown) => void;

/**
 * Runs plugin hooks. One array per hook is built at registration, so a hook nobody
 * registered costs one length check.
 */
export class HookRunner {
  readonly plugins: readonly Plugin[];
  readonly #gates = new Map<GateName, Plugin[]>();
  readonly #observers = new Map<ObserverName, Plugin[]>();
  readonly #transforms: Plugin[];
  readonly #onObserverError: ObserverErrorSink;

  constructor(plugins: readonly Plugin[], onObserverError: ObserverErrorSink) {
    for (const [i, p] of plugins.entries()) {
      if (typeof p !== 'object' || p === null) throw new TypeError(`plugins[${i}] must be an object`);
      for (const key of [...GATES, ...OBSERVERS, 'onPublish', 'init', 'close'] as const) {
        if (p[key] !== undefined && typeof p[key] !== 'function') {
          throw new TypeError(`plugins[${i}].${key} must be a function`);
        }
      }
    }
    this.plugins = plugins;
    for (const g of GATES) this.#gates.set(g, plugins.filter((p) => p[g]));
    for (const o of OBSERVERS) this.#observers.set(o, plugins.filter((p) => p[o]));
    this.#transforms = plugins.filter((p) => p.onPublish);
    this.#onObserverError = onObserverError;
  }

  /** True when at least one plugin implements the gate (so the caller must await it). */
  has(gate: GateName): boolean {
    return (this.#gates.get(gate)?.length ?? 0) > 0;
  }

  async authenticate(client: ClientInfo, credentials: Credentials): Promise<boolean> {
    for (const p of this.#gates.get('authenticate') ?? []) {
      if (!(await (p.authenticate as Fn<'authenticate'>).call(p, client, credentials))) return false;
    }
    return true;
  }

  async authorizePublish(client: ClientInfo, message: Message): Promise<boolean> {
    for (const p of this.#gates.get('authorizePublish') ?? []) {
      if (!(await (p.authorizePublish as Fn<'authorizePublish'>).call(p, client, message))) return false;
    }
    return true;
  }

  async authorizeSubscribe(client: ClientInfo, sub: SubscriptionRequestInfo): Promise<boolean> {
    for (const p of this.#gates.get('authorizeSubscribe') ?? []) {
      if (!(await (p.authorizeSubscribe as Fn<'authorizeSubscribe'>).call(p, client, sub))) return false;
    }
    return true;
  }

  /**
   * Applies the onPublish transforms in order; null means the message is dropped. A transform that
   * throws is reported like a throwing observer and the message is dropped ('plugin-error').
   */
  transform(client: ClientInfo | undefined, message: Message): Message | 'plugin-error' | null {
    let current: Message | null = message;
    for (const p of this.#transforms) {
      try {
        current = (p.onPublish as Fn<'onPublish'>).call(p, client, current);
      } catch (err) {
        this.#onObserverError('onPublish', err);
        return 'plugin-error';
      }
      if (current === null) return null;
    }
    return current;
  }

  /** Calls an observer on every plugin that has it; a throwing observer is reported, not propagated. */
  notify<K extends ObserverName>(hook: K, ...args: Parameters<Fn<K>>): void {
    const list = this.#observers.get(hook);
    if (!list || list.length === 0) return;
    for (const p of list) {
      try {
        (p[hook] as (...a: Parameters<Fn<K>>) => void).apply(p, args);
      } catch (err) {
        this.#onObserverError(hook, err);
      }
    }
  }

  /** True when some plugin observes `hook` (lets callers skip building arguments). */
  observes(hook: ObserverName): boolean {
    return (this.#observers.get(hook)?.length ?? 0) > 0;
  }
}
