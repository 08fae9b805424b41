import type { IConnackPacket, IPublishPacket, ISubscriptionMap, MqttClient, Packet } from 'mqtt';
import type { Session } from '../broker/session.js';
import { NEVER_EXPIRES } from '../broker/session-registry.js';
import { grantedQos, type Subscription } from '../broker/subscription.js';
import type { BrokerContext } from '../handlers/context.js';
import type { ClientInfo, DropReason, Message, QoS } from '../model.js';
import { bridgeSessionId, type MqttBridgeConfig } from './config.js';
import { Inbound, type InboundCounters } from './inbound.js';
import { RemoteLink, type LinkStatus } from './link.js';
import { BridgeOutlet } from './outlet.js';
import { TopicMap } from './topics.js';
import { BROKER_ID_TOPIC, HELLO_TOPIC, type BridgePeers } from './via.js';

/** One bridge's figures, for /status.json, /metrics and $SYS. */
export interface MqttBridgeStatus extends LinkStatus {
  readonly name: string;
  /** Outbound messages waiting (memory and disk) and in flight to the remote. */
  readonly backlogMessages: number;
  readonly backlogBytes: number;
  readonly inflight: number;
  readonly forwardedOut: number;
  readonly forwardedIn: number;
  /** Messages from the remote dropped because they had already crossed this broker (MQTT 5 loop detection). */
  readonly loopsDropped: number;
  /** Outbound messages dropped, by reason (link down at QoS 0, backlog full, refused by the remote, ...). */
  readonly dropped: Readonly<Partial<Record<DropReason, number>>>;
  /** Local publishers' acknowledgements withheld by the 'block' policy now. */
  readonly blocked: number;
  /**
   * Outbound messages sent below their QoS for the remote's Maximum QoS (`qos`), or without their
   * RETAIN flag because the remote has no Retain Available (`retain`) (MQTT 5 CONNACK properties).
   */
  readonly limited: { readonly qos: number; readonly retain: number };
  /** Local filters of the outbound rules that the authorizeSubscribe gates refused the bridge (not subscribed). */
  readonly refusedSubscriptions: number;
}

/** How long a 3.1.1 link waits after its SUBACK for a Midge remote's broker id before forwarding (see via.ts). */
const REMOTE_ID_WAIT_MS = 200;

const OUT_SUBSCRIPTION = { noLocal: true, retainAsPublished: true, retainHandling: 1, identifier: undefined, group: undefined } as const;

/**
 * One MQTT bridge. Its outbound side is a local persistent session, `$bridge/<name>`, subscribed
 * through the router to the rules' local filters: its queue is the broker's durable session queue
 * (written ahead, paged to disk, kept across kill -9), and its connection is a BridgeOutlet that
 * forwards to the remote; a delivery completes when the remote acknowledges it. Its inbound side
 * publishes what the remote sends (Inbound).
 */
export class MqttBridge {
  readonly name: string;
  readonly clientId: string;
  #config: MqttBridgeConfig;
  #topics: TopicMap;
  readonly #ctx: BrokerContext;
  readonly #session: Session;
  readonly #info: ClientInfo;
  #link: RemoteLink;
  #inbound: Inbound | undefined;
  /** The authorizePublish checks the last link left running: the next link's messages wait behind them. */
  #checking: Promise<void> | undefined;
  /** Remote filters of an earlier configuration, unsubscribed at the next connection. */
  #stale: string[] = [];
  #forwardedOut = 0;
  readonly #counters: InboundCounters = { forwardedIn: 0, unmatched: 0, loops: 0 };
  /** This broker's id in the `midge-bridge-via` user property (see via.ts). */
  readonly #brokerId: string;
  readonly #dropped: Partial<Record<DropReason, number>> = {};
  #blocked: (() => void)[] = [];
  #outlet: BridgeOutlet | undefined;
  readonly #limited = { qos: 0, retain: 0 };
  /** Outbound rules' local filters the authorizeSubscribe gates refused (at the last start). */
  #refusedLocal = 0;

  /** Other Midge brokers' bridge clients of this broker, by the broker behind each (see via.ts). */
  readonly #peers: BridgePeers;
  /** The remote's broker id, when it is a Midge reached over 3.1.1 (see via.ts). */
  #remoteId: string | undefined;
  #remoteIdArrived: (() => void) | undefined;

  constructor(config: MqttBridgeConfig, ctx: BrokerContext, brokerId: string, peers: BridgePeers) {
    this.#brokerId = brokerId;
    this.#peers = peers;
    this.name = config.name;
    this.clientId = bridgeSessionId(config.name);
    this.#config = config;
    this.#topics = new TopicMap(config.topics);
    this.#ctx = ctx;
    const url = new URL(config.urls[0] as string);
    this.#info = { id: this.clientId, username: config.localUsername, protocolVersion: config.protocolVersion, remoteAddress: url.host, listener: 'bridge' };
    this.#session = ctx.sessions.get(this.clientId) ?? ctx.sessions.create(this.clientId);
    this.#link = this.#newLink();
  }

  get config(): MqttBridgeConfig {
    return this.#config;
  }

  /** Sets up the local session and its subscriptions, then starts connecting. */
  async start(): Promise<void> {
    await this.#prepareSession();
    await this.#link.start();
  }

  /** Stops the link; the session and its backlog stay. */
  async stop(): Promise<void> {
    await this.#link.stop();
    this.#down();
    this.#release(true);
  }

  /** A new configuration for this bridge (SIGHUP): the link restarts with it; the backlog stays. */
  async update(config: MqttBridgeConfig): Promise<void> {
    await this.stop();
    const kept = new Set(config.topics.filter((t) => t.direction !== 'out').map((t) => t.remoteFilter));
    this.#stale = [...this.#stale, ...this.#topics.inbound.map((t) => t.remoteFilter)].filter((f) => !kept.has(f));
    this.#config = config;
    this.#topics = new TopicMap(config.topics);
    this.#link = this.#newLink();
    await this.start();
  }

  /** The bridge was removed from the configuration: its session ends (what it still held is dropped, counted). */
  async remove(): Promise<void> {
    await this.stop();
    this.#ctx.sessions.end(this.#session, 'clean-start');
  }

  /** A drop reported for this bridge's session. */
  dropped(reason: DropReason): void {
    this.#dropped[reason] = (this.#dropped[reason] ?? 0) + 1;
  }

  /** True when the backlog is over its bounds (for the 'block' policy: the message just routed took it over). */
  get full(): boolean {
    const s = this.#session;
    return s.queuedBytes > this.#config.maxBacklogBytes || s.queuedCount > this.#config.maxBacklogMessages;
  }

  /** True when this bridge forwards `topic` to the remote. */
  forwards(topic: string): boolean {
    return this.#topics.toRemote(topic) !== undefined;
  }

  /** With 'block': a promise the local publisher's acknowledgement waits on until the backlog is below its bounds. */
  block(): Promise<void> {
    return new Promise((resolve) => this.#blocked.push(resolve));
  }

  status(): MqttBridgeStatus {
    const link = this.#link.status;
    const s = this.#session;
    return {
      name: this.name,
      ...link,
      backlogMessages: s.queuedCount + s.inflightCount,
      backlogBytes: s.queuedBytes,
      inflight: s.inflightCount,
      forwardedOut: this.#forwardedOut,
      forwardedIn: this.#counters.forwardedIn,
      loopsDropped: this.#counters.loops,
      dropped: { ...this.#dropped },
      blocked: this.#blocked.length,
      limited: { ...this.#limited },
      refusedSubscriptions: this.#refusedLocal,
    };
  }

  #newLink(): RemoteLink {
    return new RemoteLink(this.#config, { up: (c, a) => this.#up(c, a), down: () => this.#down(), packet: (p) => this.#packet(p) }, this.#ctx.logger, this.#ctx.options.maxPacketSize);
  }

  /**
   * The session never expires; its subscriptions are the rules' local filters, nothing else, each
   * one that the authorization plugins allow the bridge (`$bridge/<name>`, user `localUsername`),
   * as a client's SUBSCRIBE would be. A refused filter is logged, counted and not subscribed.
   */
  async #prepareSession(): Promise<void> {
    const { router, journal, sessions } = this.#ctx;
    const session = this.#session;
    sessions.cancelTimers(this.clientId);
    session.expireAfter(NEVER_EXPIRES);
    session.relimit();
    const wanted = await this.#allowed(this.#outboundFilters());
    for (const sub of session.subscriptionList()) if (!wanted.has(sub.filter)) router.unsubscribe(session, sub.filter);
    for (const [filter, qos] of wanted) {
      if (session.getSubscription(filter)?.qos === qos) continue;
      const sub: Subscription = { clientId: this.clientId, filter, qos, ...OUT_SUBSCRIPTION };
      // Retained messages go out once, when the subscription is new (Retain Handling 1), with RETAIN=1 [MQTT-3.3.1-8]
      if (router.subscribe(session, sub)) for (const m of router.retainedFor(filter)) session.deliver(m, grantedQos(m, sub), true, undefined);
    }
    journal.saveSession(session);
  }

  /** The outbound rules' local filters, each at the highest QoS a rule gives it. */
  #outboundFilters(): Map<string, QoS> {
    const wanted = new Map<string, QoS>();
    for (const rule of this.#topics.outbound) wanted.set(rule.localFilter, Math.max(rule.qos, wanted.get(rule.localFilter) ?? 0) as QoS);
    return wanted;
  }

  /** The filters the authorizeSubscribe gates allow the bridge. */
  async #allowed(filters: Map<string, QoS>): Promise<Map<string, QoS>> {
    const hooks = this.#ctx.hooks;
    if (!hooks.has('authorizeSubscribe')) return filters;
    const allowed = new Map<string, QoS>();
    const refused: string[] = [];
    for (const [filter, qos] of filters) {
      if (await hooks.authorizeSubscribe(this.#info, { filter, qos, userProperties: undefined })) allowed.set(filter, qos);
      else refused.push(filter);
    }
    this.#refusedLocal = refused.length;
    if (refused.length > 0) this.#ctx.logger.warn({ bridge: this.name, clientId: this.clientId, username: this.#info.username, filters: refused }, 'mqtt bridge: local subscriptions not authorized; not forwarded');
    return allowed;
  }

  async #up(client: MqttClient, connack: IConnackPacket): Promise<void> {
    this.#remoteId = undefined;
    this.#inbound = new Inbound(this.#ctx, this.#session, this.#link, this.#topics, this.#info, this.#counters, this.#brokerId, this.#checking);
    try {
      await this.#subscribeRemote(client);
    } catch (err) {
      // The connection went away meanwhile (its close is reported), or the remote refused: logged, and the outbound side still runs
      this.#ctx.logger.warn({ bridge: this.name, err }, 'mqtt bridge: remote subscription failed');
      if (!client.connected) return;
    }
    if (this.#link.status.state !== 'connected') return;
    const events = {
      sentQos0: () => this.#forwardedOut++,
      limited: (what: 'qos' | 'retain') => this.#limited[what]++,
      unacknowledged: (packetId: number) => queueMicrotask(() => this.#finish(packetId)),
      returnsHome: (message: Message) => this.#remoteId !== undefined && this.#peers.get(message.origin) === this.#remoteId,
    };
    const outlet = new BridgeOutlet(this.#link, connack, this.#config, this.#info, this.#topics, this.#ctx.options.maxWriteBuffer, events, this.#brokerId);
    this.#warnLimits(outlet);
    this.#outlet = outlet;
    this.#session.attach(outlet);
    this.#announce(true);
  }

  /** One line per connection when the remote's CONNACK limits what the rules forward. */
  #warnLimits(outlet: BridgeOutlet): void {
    const wanted = Math.max(0, ...this.#topics.outbound.map((t) => t.qos));
    if (outlet.maxQos >= wanted && outlet.retainAvailable) return;
    const fields = { bridge: this.name, maximumQoS: outlet.maxQos, retainAvailable: outlet.retainAvailable };
    this.#ctx.logger.warn(fields, 'mqtt bridge: the remote limits QoS or retain; messages above its Maximum QoS go at that QoS, retained ones without RETAIN');
  }

  /**
   * Ends a delivery the remote took below its QoS without the acknowledgement its QoS expects: at
   * QoS 0 (nothing comes back), or a QoS 2 delivery acknowledged by PUBACK (no PUBREL follows).
   */
  #finish(packetId: number): void {
    const session = this.#session;
    if (session.acknowledge(packetId) || session.completed(packetId)) this.#forwardedOut++;
    else session.received(packetId, false); // QoS 2: its 'pubrel' state, then (through sendPubrel) completed
    this.#release(false);
  }

  /** As Mosquitto: `$SYS/broker/connection/<name>/state` (retained, 1 or 0) as soon as the link changes, when $SYS is on. */
  #announce(up: boolean): void {
    const ctx = this.#ctx;
    if (ctx.options.sysInterval <= 0) return;
    const topic = `$SYS/broker/connection/${this.name}/state`;
    const message = { id: ctx.messageIds.next(), topic, payload: Buffer.from(up ? '1' : '0'), qos: 0, retain: true, properties: undefined, expiresAt: undefined, origin: undefined } as const;
    ctx.publisher.publish(message, undefined);
  }

  /**
   * Subscribes to the inbound rules' remote filters before any PUBLISH goes out (their packet ids
   * share one space). MQTT 5: No Local, so what the bridge sends never comes back, and Retain As
   * Published; 3.1.1: the bridge bit asks the same of Mosquitto and Midge.
   */
  async #subscribeRemote(client: MqttClient): Promise<void> {
    if (this.#stale.length > 0) {
      await client.unsubscribeAsync(this.#stale);
      this.#stale = [];
    }
    const map: ISubscriptionMap = {};
    for (const rule of this.#topics.inbound) {
      const qos = Math.max(rule.qos, map[rule.remoteFilter]?.qos ?? 0) as QoS;
      map[rule.remoteFilter] = this.#config.protocolVersion === 5 ? { qos, nl: true, rap: true, rh: 1 } : { qos };
    }
    // 3.1.1 with the bridge bit: a Midge remote's broker id (see via.ts); Mosquitto has none to send
    const identify = this.#config.protocolVersion === 4 && this.#config.bridgeBit && this.#topics.outbound.length > 0;
    if (identify) map[BROKER_ID_TOPIC] = { qos: 0 };
    if (Object.keys(map).length === 0) return;
    const arrived = identify ? new Promise<void>((resolve) => (this.#remoteIdArrived = resolve)) : undefined;
    const granted = await client.subscribeAsync(map);
    const refused = granted.filter((g) => g.qos >= 0x80 && g.topic !== BROKER_ID_TOPIC).map((g) => g.topic);
    if (refused.length > 0) this.#ctx.logger.warn({ bridge: this.name, filters: refused }, 'mqtt bridge: the remote refused subscriptions');
    // A Midge sends its retained id right after the SUBACK; the outbound side starts once it is known, or soon anyway
    if (arrived !== undefined) await Promise.race([arrived, new Promise((r) => setTimeout(r, REMOTE_ID_WAIT_MS))]);
    this.#remoteIdArrived = undefined;
  }

  /** The remote's broker id arrived (a Midge remote): say who this broker is, over the same link. */
  #remoteIdentified(packet: IPublishPacket): void {
    const id = Buffer.isBuffer(packet.payload) ? packet.payload.toString('latin1') : packet.payload;
    this.#remoteId = id;
    this.#link.publish({ cmd: 'publish', topic: HELLO_TOPIC, payload: Buffer.from(this.#brokerId), qos: 0, retain: false, dup: false });
    this.#remoteIdArrived?.();
  }

  #down(): void {
    this.#checking = this.#inbound?.checking;
    this.#inbound = undefined;
    this.#outlet = undefined;
    if (!this.#session.connected) return;
    this.#session.detach();
    this.#announce(false);
  }

  #packet(packet: Packet): void {
    const session = this.#session;
    switch (packet.cmd) {
      case 'publish':
        if ((packet as IPublishPacket).topic === BROKER_ID_TOPIC) this.#remoteIdentified(packet as IPublishPacket);
        else this.#inbound?.publish(packet as IPublishPacket);
        return;
      case 'pubrel':
        this.#inbound?.release(packet.messageId as number);
        return;
      case 'puback': {
        const id = packet.messageId as number;
        const failed = (packet.reasonCode ?? 0) >= 0x80;
        if (session.acknowledge(id, failed)) {
          if (!failed) this.#forwardedOut++;
        } else if (this.#outlet?.takeDowngraded(id) === true) {
          session.received(id, failed); // a QoS 2 delivery the remote took at QoS 1: this PUBACK ends it (see #finish)
        }
        break;
      }
      case 'pubrec':
        session.received(packet.messageId as number, (packet.reasonCode ?? 0) >= 0x80);
        break;
      case 'pubcomp':
        if (session.completed(packet.messageId as number)) this.#forwardedOut++;
        break;
      default:
        return;
    }
    this.#release(false);
  }

  /** Lets blocked publishers' acknowledgements go once the backlog is below its bounds (or all of them when stopping). */
  #release(all: boolean): void {
    if (this.#blocked.length === 0 || (!all && this.full)) return;
    const waiting = this.#blocked;
    this.#blocked = [];
    for (const resolve of waiting) resolve();
  }
}
