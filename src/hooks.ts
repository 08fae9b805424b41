import type { Broker } from './broker.js';
import type { ClientInfo, Drop, DropReason, Message, PeerCertificate, QoS, UserProperties } from './model.js';

export type { ClientInfo, Drop, DropReason, PeerCertificate, UserProperties } from './model.js';

/** Credentials presented in CONNECT, or in an AUTH packet of an enhanced authentication exchange. */
export interface Credentials {
  readonly username: string | undefined;
  readonly password: Buffer | undefined;
  /** MQTT 5 Authentication Method, when the client uses enhanced authentication [MQTT-4.12]. */
  readonly method: string | undefined;
  /** Authentication Data from the CONNECT, or from the AUTH packet that continues the exchange. */
  readonly data: Buffer | undefined;
  /** The exchange this step belongs to; the same object is passed to every step of one exchange. */
  readonly exchange: AuthExchange;
}

/** One enhanced authentication exchange: from CONNECT (or a re-authentication AUTH) to its outcome. */
export interface AuthExchange {
  /** Scratch space for the plugin that answers the exchange (e.g. a SCRAM nonce); starts undefined. */
  state: unknown;
  /** 0 for the packet that starts the exchange, then 1, 2, ... for each AUTH 0x18 from the client. */
  readonly step: number;
  /** True when the client started the exchange with AUTH 0x19 on an established connection [MQTT-4.12.1]. */
  readonly reauthentication: boolean;
}

/**
 * What `authenticate` answers. `true`/`false` accept or refuse plain credentials. An object can also
 * continue an enhanced exchange (send AUTH 0x18 with `data` and wait for the client's answer), change
 * the username (e.g. from a JWT claim), or set when the authentication expires.
 */
export type AuthVerdict = boolean | AuthResult;

/** The detailed form of an AuthVerdict. */
export interface AuthResult {
  readonly outcome: 'success' | 'continue' | 'fail';
  /** Authentication Data for the client: the challenge with 'continue', final data with 'success'. */
  readonly data?: Buffer;
  /** Replaces the username the client presented, for ACLs and for plugins that follow. */
  readonly username?: string;
  /** With 'fail': the reason code (MQTT 5 value; mapped for 3.1.1). Default 0x86 for plain credentials, 0x87 with an Authentication Method or on re-authentication. */
  readonly reasonCode?: number;
  /** With 'fail': a reason string, sent when the client accepts problem information. */
  readonly reasonString?: string;
  /** Epoch milliseconds at which the authentication expires: the client is disconnected then (0xA0 in MQTT 5). */
  readonly expiresAt?: number;
  /** With 'success' or 'continue': User Properties for the CONNACK or AUTH the broker sends. */
  readonly userProperties?: UserProperties;
  /** With 'fail' at CONNECT: redirect the client (CONNACK 0x9C use another server, 0x9D server moved). */
  readonly serverReference?: string;
}

/** A subscription request as seen by `authorizeSubscribe`. */
export interface SubscriptionRequestInfo {
  readonly filter: string;
  readonly qos: QoS;
  /** MQTT 5 User Properties of the SUBSCRIBE packet. */
  readonly userProperties?: UserProperties | undefined;
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
  /**
   * Gate for CONNECT and for each step of an enhanced authentication exchange (AUTH). With an
   * Authentication Method, the plugin that knows the method answers with an AuthResult; when every
   * plugin answers plain `true`, the method is unsupported (0x8C).
   */
  authenticate?(client: ClientInfo, credentials: Credentials): AuthVerdict | Promise<AuthVerdict>;
  authorizePublish?(client: ClientInfo, message: Message): boolean | Promise<boolean>;
  authorizeSubscribe?(client: ClientInfo, subscription: SubscriptionRequestInfo): boolean | Promise<boolean>;
  /**
   * Synchronous gate run for each PUBLISH about to be sent to a client (live, retained, queued or
   * resent): false drops that delivery ('not-authorized'). Lets an ACL grant `#` only what it may read.
   */
  authorizeRead?(client: ClientInfo, message: Message): boolean;
  onPublish?(client: ClientInfo | undefined, message: Message): Message | null;
  onConnected?(client: ClientInfo): void;
  onDisconnected?(client: ClientInfo, reason: string): void;
  onPublished?(message: Message, client: ClientInfo | undefined): void;
  onDelivered?(clientId: string, message: Message): void;
  onDropped?(drop: Drop): void;
  onSessionExpired?(clientId: string): void;
  /**
   * Acknowledgement hold, run for each accepted QoS 1/2 PUBLISH after onPublished: a promise
   * withholds the PUBACK/PUBREC until it settles (the log bridge's 'block' policy uses it while a
   * stream is full). Holds for one client must keep its acknowledgements in order [MQTT-4.6.0-2].
   * `packetId` is the PUBLISH's (a QoS 2 one is already awaiting PUBREL in the session).
   */
  holdAcknowledgement?(client: ClientInfo, message: Message, packetId?: number): Promise<void> | undefined;
}

/** The combined answer of the authenticate gates for one step of an exchange. */
export interface AuthOutcome {
  readonly outcome: AuthResult['outcome'];
  /** True when some plugin answered with an AuthResult or refused (an Authentication Method was understood). */
  readonly handled: boolean;
  readonly data?: Buffer | undefined;
  readonly userProperties?: UserProperties | undefined;
  readonly username: string | undefined;
  readonly reasonCode?: number | undefined;
  readonly reasonString?: string | undefined;
  readonly expiresAt?: number | undefined;
  readonly serverReference?: string | undefined;
  /** The plugin that stopped the run; a 'continue' resumes there. */
  readonly resumeAt: number;
}

type GateName = 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeRead';
type ObserverName = 'onConnected' | 'onDisconnected' | 'onPublished' | 'onDelivered' | 'onDropped' | 'onSessionExpired';
type Fn<K extends keyof Plugin> = NonNullable<Plugin[K]>;

const GATES: readonly GateName[] = ['authenticate', 'authorizePublish', 'authorizeSubscribe', 'authorizeRead'];
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
  readonly #holds: Plugin[];
  readonly #onObserverError: ObserverErrorSink;

  constructor(plugins: readonly Plugin[], onObserverError: ObserverErrorSink) {
    for (const [i, p] of plugins.entries()) {
      if (typeof p !== 'object' || p === null) throw new TypeError(`plugins[${i}] must be an object`);
      for (const key of [...GATES, ...OBSERVERS, 'onPublish', 'holdAcknowledgement', 'init', 'close'] as const) {
        if (p[key] !== undefined && typeof p[key] !== 'function') {
          throw new TypeError(`plugins[${i}].${key} must be a function`);
        }
      }
    }
    this.plugins = plugins;
    for (const g of GATES) this.#gates.set(g, plugins.filter((p) => p[g]));
    for (const o of OBSERVERS) this.#observers.set(o, plugins.filter((p) => p[o]));
    this.#transforms = plugins.filter((p) => p.onPublish);
    this.#holds = plugins.filter((p) => p.holdAcknowledgement);
    this.#onObserverError = onObserverError;
  }

  /** True when at least one plugin implements the gate (so the caller must await it). */
  has(gate: GateName): boolean {
    return (this.#gates.get(gate)?.length ?? 0) > 0;
  }

  /**
   * Runs the authenticate gates for one step, starting at plugin `from` (the plugin that asked to
   * continue an exchange resumes it). A refusal or a 'continue' stops the run; every 'success' is
   * merged (the last username wins, the earliest expiry wins).
   */
  async authenticate(client: ClientInfo, credentials: Credentials, from = 0): Promise<AuthOutcome> {
    const gates = this.#gates.get('authenticate') ?? [];
    let info = client;
    let handled = false;
    let data: Buffer | undefined;
    let expiresAt: number | undefined;
    let userProperties: UserProperties | undefined;
    for (let i = from; i < gates.length; i++) {
      const p = gates[i] as Plugin;
      const verdict = await (p.authenticate as Fn<'authenticate'>).call(p, info, credentials);
      if (verdict === true) continue;
      if (verdict === false) return { outcome: 'fail', handled: true, username: info.username, resumeAt: i };
      if (verdict.outcome === 'fail') return { ...verdict, outcome: 'fail', handled: true, username: info.username, resumeAt: i };
      if (verdict.outcome === 'continue') {
        return { outcome: 'continue', data: verdict.data, userProperties: verdict.userProperties, handled: true, username: info.username, resumeAt: i };
      }
      handled = true;
      if (verdict.data !== undefined) data = verdict.data;
      if (verdict.userProperties !== undefined) userProperties = { ...userProperties, ...verdict.userProperties };
      if (verdict.username !== undefined) info = { ...info, username: verdict.username };
      if (verdict.expiresAt !== undefined) expiresAt = Math.min(expiresAt ?? Infinity, verdict.expiresAt);
    }
    return { outcome: 'success', handled, data, userProperties, username: info.username, expiresAt, resumeAt: gates.length };
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

  /** Runs the authorizeRead gates for one delivery; a gate that throws is reported and denies. */
  authorizeRead(client: ClientInfo, message: Message): boolean {
    for (const p of this.#gates.get('authorizeRead') ?? []) {
      try {
        if (!(p.authorizeRead as Fn<'authorizeRead'>).call(p, client, message)) return false;
      } catch (err) {
        this.#onObserverError('authorizeRead', err);
        return false;
      }
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

  /** What the acknowledgement of `message` waits for (holdAcknowledgement plugins); undefined: nothing. */
  holdAcknowledgement(client: ClientInfo, message: Message, packetId?: number): Promise<void> | undefined {
    if (this.#holds.length === 0) return undefined;
    const holds: Promise<void>[] = [];
    for (const p of this.#holds) {
      const hold = (p.holdAcknowledgement as Fn<'holdAcknowledgement'>).call(p, client, message, packetId);
      if (hold !== undefined) holds.push(hold);
    }
    if (holds.length === 0) return undefined;
    return holds.length === 1 ? holds[0] : Promise.all(holds).then(() => undefined);
  }

  /** True when some plugin observes `hook` (lets callers skip building arguments). */
  observes(hook: ObserverName): boolean {
    return (this.#observers.get(hook)?.length ?? 0) > 0;
  }
}
