import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { QueueLimits } from '../broker/queue.js';
import type { BrokerContext } from '../handlers/context.js';
import type { Plugin } from '../hooks.js';
import type { ClientInfo, Drop, Message } from '../model.js';
import { MqttBridge, type MqttBridgeStatus } from './bridge.js';
import { bridgeSessionId, type MqttBridgeConfig } from './config.js';
import { BridgePeers, BROKER_ID_TOPIC, HELLO_TOPIC, VIA_PROPERTY, viaOf } from './via.js';

/** Prefix of every bridge's local session id. */
const SESSION_PREFIX = bridgeSessionId('');

/**
 * Every MQTT bridge of the broker (the `bridges` option), as an ordinary plugin: it counts drops
 * of the bridges' sessions (onDropped) and, for a bridge with the 'block' policy, withholds local
 * publishers' acknowledgements while that bridge's backlog is full (holdAcknowledgement).
 * It also gives the bridges' sessions their own queue bounds (limitsOf).
 */
export class MqttBridges implements Plugin {
  readonly name = 'mqtt-bridges';
  #configs: readonly MqttBridgeConfig[];
  readonly #bridges = new Map<string, MqttBridge>();
  readonly #logger: Logger;
  #ctx: BrokerContext | undefined;
  #blocking: MqttBridge[] = [];
  /** This broker's id among bridged Midge brokers (loop detection, see via.ts); new at each start. */
  readonly #brokerId = randomBytes(6).toString('hex');
  /** Bridge clients of other Midge brokers that said who they are (MQTT 3.1.1 loop prevention, see via.ts). */
  readonly #peers = new BridgePeers();

  constructor(configs: readonly MqttBridgeConfig[], logger: Logger) {
    this.#configs = configs;
    this.#logger = logger;
  }

  /** The broker's core, once it is built (the bridges publish and subscribe through it). */
  bind(ctx: BrokerContext): void {
    this.#ctx = ctx;
  }

  /**
   * The queue bounds of a bridge's session: its backlog bounds, by bytes and messages. With 'block'
   * the queue itself takes up to twice them (publishers are held from the bounds on); beyond, new
   * messages are dropped and counted.
   */
  limitsOf(clientId: string): QueueLimits | undefined {
    if (!clientId.startsWith(SESSION_PREFIX)) return undefined;
    const config = this.#configs.find((c) => bridgeSessionId(c.name) === clientId);
    if (config === undefined) return undefined;
    if (config.overflow === 'block') return { maxBytes: config.maxBacklogBytes * 2, maxMessages: config.maxBacklogMessages * 2, policy: 'drop-new' };
    return { maxBytes: config.maxBacklogBytes, maxMessages: config.maxBacklogMessages, policy: 'drop-oldest' };
  }

  /** After restore: ends sessions of bridges no longer configured, then starts every bridge. */
  async start(): Promise<void> {
    const ctx = this.#context();
    // This broker's id, for the 3.1.1 links of other Midge brokers (see via.ts): a $SYS fact like the
    // version, so only with $SYS on; put in the retained index directly (no plugin sees it, $SYS is never stored)
    if (ctx.options.sysInterval > 0) {
      ctx.router.retain({ id: ctx.messageIds.next(), topic: BROKER_ID_TOPIC, payload: Buffer.from(this.#brokerId), qos: 0, retain: true, properties: undefined, expiresAt: undefined, origin: undefined });
    }
    const wanted = new Set(this.#configs.map((c) => bridgeSessionId(c.name)));
    for (const session of [...ctx.sessions.values()]) {
      if (session.clientId.startsWith(SESSION_PREFIX) && !wanted.has(session.clientId)) ctx.sessions.end(session, 'clean-start');
    }
    for (const config of this.#configs) await this.#add(config);
  }

  /** Applies a new `bridges` configuration (SIGHUP): bridges are added, restarted when changed, or removed. */
  async reload(configs: readonly MqttBridgeConfig[]): Promise<void> {
    this.#configs = configs;
    const names = new Set(configs.map((c) => c.name));
    for (const [name, bridge] of this.#bridges) {
      if (names.has(name)) continue;
      this.#bridges.delete(name);
      await bridge.remove();
      this.#logger.info({ bridge: name }, 'mqtt bridge removed');
    }
    for (const config of configs) {
      const bridge = this.#bridges.get(config.name);
      if (bridge === undefined) await this.#add(config);
      else if (!isDeepStrictEqual(bridge.config.options, config.options)) {
        await bridge.update(config);
        this.#logger.info({ bridge: config.name }, 'mqtt bridge reconfigured');
      }
    }
    this.#blocking = [...this.#bridges.values()].filter((b) => b.config.overflow === 'block');
  }

  /** Stops every link (sessions and backlogs stay, for the store). */
  async close(): Promise<void> {
    await Promise.all([...this.#bridges.values()].map((b) => b.stop()));
  }

  /** Every bridge's figures. */
  status(): MqttBridgeStatus[] {
    return [...this.#bridges.values()].map((b) => b.status());
  }

  get size(): number {
    return this.#bridges.size;
  }

  onDropped(drop: Drop): void {
    if (drop.clientId === undefined || !drop.clientId.startsWith(SESSION_PREFIX)) return;
    this.#bridges.get(drop.clientId.slice(SESSION_PREFIX.length))?.dropped(drop.reason);
  }

  /**
   * A message that already went out through a bridge of this broker and came back (published by
   * another broker's bridge, over another link) is not published again: dropped, counted
   * ('bridge-loop'). Costs one property lookup on messages with user properties.
   */
  onPublish(client: ClientInfo | undefined, message: Message): Message | null {
    if (message.topic === HELLO_TOPIC) {
      // A 3.1.1 link of another Midge says which broker it comes from; never routed
      if (client !== undefined) this.#peers.add(client.id, message.payload);
      return null;
    }
    const props = message.properties?.userProperties;
    if (props === undefined || props[VIA_PROPERTY] === undefined) return message;
    // A bridge's own inbound publish carries this broker's id already (it checked the list before adding it)
    if (client?.id.startsWith(SESSION_PREFIX) === true || !viaOf(props).includes(this.#brokerId)) return message;
    this.#context().drops.add(client?.id, message, 'bridge-loop');
    return null;
  }

  onDisconnected(client: ClientInfo): void {
    this.#peers.delete(client.id);
  }

  holdAcknowledgement(_client: ClientInfo, message: Message): Promise<void> | undefined {
    if (this.#blocking.length === 0) return undefined;
    const holds = this.#blocking.filter((b) => b.full && b.forwards(message.topic)).map((b) => b.block());
    if (holds.length === 0) return undefined;
    return holds.length === 1 ? holds[0] : Promise.all(holds).then(() => undefined);
  }

  async #add(config: MqttBridgeConfig): Promise<void> {
    const bridge = new MqttBridge(config, this.#context(), this.#brokerId, this.#peers);
    this.#bridges.set(config.name, bridge);
    if (config.overflow === 'block') this.#blocking.push(bridge);
    await bridge.start();
  }

  #context(): BrokerContext {
    if (this.#ctx === undefined) throw new Error('MqttBridges used before bind()');
    return this.#ctx;
  }
}
