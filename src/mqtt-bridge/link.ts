import type { IClientOptions, IConnackPacket, MqttClient, Packet } from 'mqtt';
import type { Logger } from 'pino';
import type { Duplex } from 'node:stream';
import { Decoder, encode, type PublishPacket } from '../protocol/codec.js';
import { AckTicket } from './acks.js';
import type { MqttBridgeConfig } from './config.js';
import { BridgeStream, openSocket } from './transport.js';

/** Where a link stands: connecting (an attempt is under way), connected, down (waiting to retry), stopped. */
export type LinkState = 'connecting' | 'connected' | 'down' | 'stopped';

/** What a link reports to its bridge. */
export interface LinkHost {
  /** CONNACK arrived: the link is usable through `client` until `down()`. */
  up(client: MqttClient, connack: IConnackPacket): void;
  /** The connection that was `up` is gone. */
  down(): void;
  /** A packet from the remote (the message flow, PUBLISH to PUBCOMP, read by the link; the others after mqtt.js read them). */
  packet(packet: Packet): void;
}

/** A link's state for status and metrics. */
export interface LinkStatus {
  readonly state: LinkState;
  /** Why it is down (or why the last attempt failed). */
  readonly reason: string | undefined;
  /** The URL in use or being tried. */
  readonly url: string;
  /** Since when (ms since epoch) it is in this state. */
  readonly since: number;
  /** When the next attempt starts, while down. */
  readonly retryAt: number | undefined;
  /** Successful connections since start. */
  readonly connects: number;
  /** Failed attempts and lost connections since start. */
  readonly failures: number;
}

/** mqtt.js's MqttClient constructor (public API): a client over the stream `build` returns. */
type ClientConstructor = new (build: (client: MqttClient) => Duplex, options: IClientOptions) => MqttClient;

/** Packets of the message flow the remote sent before mqtt.js reported its CONNACK, at most (then the connection ends). */
const MAX_EARLY_PACKETS = 65_535;
type Ack = 'puback' | 'pubrec' | 'pubcomp';

/** How long a stopping link waits for its DISCONNECT to be written before it closes the socket. */
const STOP_TIMEOUT_MS = 1000;

/**
 * The packet ids of one connection, shared by mqtt.js (its `messageIdProvider`, for SUBSCRIBE and
 * UNSUBSCRIBE) and the bridge's session: an outbound PUBLISH has the packet id of its session
 * delivery (so a resend after a restart uses the same one, and the remote recognises a QoS 2
 * duplicate), held from its PUBLISH to its PUBACK/PUBCOMP; mqtt.js takes the next id not held.
 */
class PacketIds {
  readonly #used = new Set<number>();
  #next = 0;
  #last: number | null = null;

  /** An outbound PUBLISH holds its delivery's packet id (again, for a resend). */
  hold(id: number): void {
    this.#used.add(id);
  }

  allocate(): number | null {
    let id: number | undefined;
    for (let n = 0; n < 0xffff && (id === undefined || this.#used.has(id)); n++) id = (this.#next = (this.#next % 0xffff) + 1);
    if (id === undefined || this.#used.has(id)) return null;
    this.#used.add(id);
    this.#last = id;
    return id;
  }

  getLastAllocated(): number | null {
    return this.#last;
  }

  register(id: number): boolean {
    if (this.#used.has(id)) return false;
    this.#used.add(id);
    return true;
  }

  deallocate(id: number): void {
    this.#used.delete(id);
  }

  clear(): void {
    this.#used.clear();
  }
}

/** Reconnect delay before attempt `failures` (1, 2, ...): doubling from `base`, capped, with jitter (half to all of it). */
export function backoff(failures: number, base: number, cap: number, random = Math.random): number {
  const full = Math.min(cap, base * 2 ** Math.min(failures - 1, 30));
  return Math.round(full / 2 + (random() * full) / 2);
}

/**
 * A bridge's connection to the remote broker, one mqtt.js MqttClient per attempt: it tries the
 * URLs in turn (failover), waits with exponential backoff, jitter and a cap between failed
 * attempts, and reports the connection's life to its bridge.
 *
 * mqtt.js does the control path: CONNECT/CONNACK, keepalive, SUBSCRIBE and UNSUBSCRIBE. The
 * bridge's message traffic bypasses it, through public API only (the MqttClient constructor takes
 * the stream to use; `MqttClient.stream`):
 * - Outbound PUBLISH and PUBREL are encoded by Midge's codec and written to the client's stream,
 *   batched per event-loop turn; the session sends PUBREL once the 'pubrel' state is committed
 *   [MQTT-4.3.3-4].
 * - The message flow from the remote (PUBLISH to PUBCOMP) never reaches mqtt.js: the link's stream
 *   (BridgeStream) takes it out and Midge's codec decodes it, a whole read at a time, so the
 *   remote's acknowledgements release the next messages together, and the link sends the
 *   PUBACK/PUBREC/PUBCOMP of the remote's messages itself, each
 *   once the local commit it was given is done (`hold`), in the order the packets came
 *   [MQTT-4.6.0-2]. (mqtt.js acknowledges a packet as soon as it has handled it; its hooks that
 *   delay that, `handleMessage` and MQTT 5's `customHandleAcks`, stop it from reading the next
 *   packet until then, which would cost one store commit per message instead of one per window.)
 */
export class RemoteLink {
  readonly #config: MqttBridgeConfig;
  readonly #host: LinkHost;
  readonly #logger: Logger;
  #client: MqttClient | undefined;
  #ids: PacketIds | undefined;
  #state: LinkState = 'down';
  #reason: string | undefined = 'not started';
  #since = Date.now();
  #retryAt: number | undefined;
  #urlIndex = 0;
  /** Failed attempts in a row (backoff exponent). */
  #streak = 0;
  #connects = 0;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Acknowledgements of the remote's PUBLISH and PUBREL packets, in order, each waiting for its ticket [MQTT-4.6.0-2]. */
  #acks: { packet: Packet; ticket: AckTicket }[] = [];
  #ackHead = 0;
  #MqttClient: ClientConstructor | undefined;
  readonly #maxPacketSize: number;
  /** The stream is corked until the end of this event-loop turn (see #write). */
  #corked = false;

  /** `maxPacketSize`: the largest packet accepted from the remote (the broker's own limit). */
  constructor(config: MqttBridgeConfig, host: LinkHost, logger: Logger, maxPacketSize: number) {
    this.#maxPacketSize = maxPacketSize;
    this.#config = config;
    this.#host = host;
    this.#logger = logger.child({ bridge: config.name });
  }

  get status(): LinkStatus {
    return {
      state: this.#state,
      reason: this.#reason,
      url: this.#config.urls[this.#urlIndex] as string,
      since: this.#since,
      retryAt: this.#retryAt,
      connects: this.#connects,
      failures: this.#failures,
    };
  }

  /** Starts connecting (mqtt.js is loaded now, so a broker without bridges never imports it). */
  async start(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#MqttClient ??= (await import('mqtt')).MqttClient as unknown as ClientConstructor;
    this.#attempt();
  }

  /** Ends the connection and every retry. */
  async stop(): Promise<void> {
    this.#state = 'stopped';
    this.#reason = 'stopped';
    this.#since = Date.now();
    this.#retryAt = undefined;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#drop();
    if (client === undefined) return;
    // DISCONNECT, without waiting for acknowledgements: what is in flight stays in the session, resent next time
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => client.end(true, () => resolve()), STOP_TIMEOUT_MS);
      client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * The acknowledgement `cmd` of packet `id` waits for `ticket` (a local commit), which gives its
   * MQTT 5 reason code. A failed commit sends no acknowledgement: the connection is closed and the
   * remote sends the message again. Call `settled()` when tickets become ready.
   */
  hold(cmd: Ack, id: number, ticket: AckTicket): void {
    if (this.#client === undefined) return; // the connection went: the remote sends it again
    this.#acks.push({ packet: { cmd, messageId: id } as Packet, ticket });
    this.settled();
  }

  /** Sends the acknowledgements whose tickets are ready, in order, up to the first still waiting. */
  settled(): void {
    const client = this.#client;
    const acks = this.#acks;
    let i = this.#ackHead;
    for (; i < acks.length && client !== undefined; i++) {
      const { packet, ticket } = acks[i] as { packet: Packet; ticket: AckTicket };
      if (ticket.state === 'pending') break;
      if (ticket.state === 'failed') {
        this.#logger.error({ err: ticket.error, packet: packet.cmd, packetId: packet.messageId }, 'mqtt bridge: local commit failed; not acknowledged, reconnecting');
        this.#acks = [];
        this.#ackHead = 0;
        client.end(true);
        return;
      }
      const reasonCode = this.#config.protocolVersion === 5 && ticket.reasonCode !== 0 ? { reasonCode: ticket.reasonCode } : {};
      this.#write(encode({ ...packet, ...reasonCode } as Packet, this.#config.protocolVersion));
    }
    this.#ackHead = i;
    if (i === acks.length) {
      this.#acks = [];
      this.#ackHead = 0;
    } else if (i > 1024) {
      this.#acks = acks.slice(i);
      this.#ackHead = 0;
    }
  }

  /**
   * Writes a PUBLISH to the remote; a QoS 1/2 one holds its packet id until its acknowledgement.
   * False when not connected.
   */
  publish(packet: PublishPacket): boolean {
    if (this.#state !== 'connected' || this.#client === undefined) return false;
    if (packet.qos > 0) this.#ids?.hold(packet.messageId as number);
    this.#write(encode(packet, this.#config.protocolVersion));
    return true;
  }

  /** A packet of the message flow from the remote; an acknowledgement that ends an outbound exchange frees its packet id. */
  #received(packet: Packet): void {
    const failed = (packet as { reasonCode?: number }).reasonCode ?? 0;
    if (packet.cmd === 'puback' || packet.cmd === 'pubcomp' || (packet.cmd === 'pubrec' && failed >= 0x80)) this.#ids?.deallocate(packet.messageId as number);
    this.#host.packet(packet);
  }

  /** Bytes waiting in the socket's write buffer. */
  get writeBacklog(): number {
    const stream = this.#client?.stream as BridgeStream | undefined;
    return (stream?.writableLength ?? 0) + (stream?.socket.writableLength ?? 0);
  }

  /** Sends PUBREL for an outbound QoS 2 message (its 'pubrel' state is committed) [MQTT-4.3.3-4]. */
  sendPubrel(packetId: number): void {
    if (this.#state !== 'connected' || this.#client === undefined) return;
    this.#write(encode({ cmd: 'pubrel', messageId: packetId }, this.#config.protocolVersion));
  }

  /**
   * Writes bytes after everything mqtt.js wrote; the writes of one event-loop turn leave in one
   * system call (the socket is corked until the turn ends; mqtt.js's writes pass through it too).
   */
  #write(bytes: Buffer): void {
    const stream = (this.#client as MqttClient).stream as BridgeStream;
    if (!this.#corked) {
      this.#corked = true;
      const socket = stream.socket;
      socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    stream.send(bytes);
  }

  #attempt(): void {
    if (this.#state === 'stopped') return;
    const url = this.#config.urls[this.#urlIndex] as string;
    this.#setState('connecting', undefined);
    this.#ids = new PacketIds();
    let wasUp = false;
    let early: Packet[] | undefined = [];
    const tapped = (packet: Packet) => {
      if (this.#client !== client) return;
      if (wasUp) this.#received(packet);
      else if (early !== undefined && early.length < MAX_EARLY_PACKETS) early.push(packet);
      else client.stream.destroy(new Error('the remote sent too many messages before its CONNACK'));
    };
    const decoder = new Decoder({ packetDecoded: tapped, decodeFailed: (err) => client.stream.destroy(err) }, this.#config.protocolVersion);
    const build = () => {
      const bridgeBit = this.#config.protocolVersion === 4 && this.#config.bridgeBit;
      return new BridgeStream(openSocket(new URL(url), this.#config.tls), (frame) => decoder.write(frame), bridgeBit, this.#maxPacketSize);
    };
    const client = new (this.#MqttClient as ClientConstructor)(build, { ...this.#options(), messageIdProvider: this.#ids, manualConnect: true });
    this.#client = client;
    this.#acks = [];
    this.#ackHead = 0;
    client.on('packetreceive', (packet) => {
      if (this.#client === client && wasUp) this.#host.packet(packet);
    });
    client.on('connect', (connack) => {
      if (this.#client !== client) return;
      wasUp = true;
      this.#connects++;
      this.#streak = 0;
      this.#setState('connected', undefined);
      this.#logger.info({ url, sessionPresent: connack.sessionPresent }, 'mqtt bridge connected');
      this.#host.up(client, connack);
      // What the remote sent right behind its CONNACK (a session's resends), in order
      const waiting = early ?? [];
      early = undefined;
      for (const packet of waiting) if (this.#client === client) this.#received(packet);
    });
    client.on('error', (err) => {
      if (this.#client === client) this.#reason = err.message;
    });
    client.on('close', () => {
      if (this.#client !== client) return;
      this.#drop();
      client.end(true);
      if (wasUp) this.#host.down();
      this.#failed(url, wasUp);
    });
    client.connect();
  }

  #options(): IClientOptions {
    const c = this.#config;
    const v5 = c.protocolVersion === 5;
    return {
      clientId: c.clientId,
      username: c.username,
      password: c.password,
      protocolVersion: v5 ? 5 : 4,
      clean: c.cleanStart,
      keepalive: c.keepalive,
      connectTimeout: c.connectTimeout,
      reconnectPeriod: 0,
      resubscribe: false,
      // [MQTT-3.1.2-24] the remote sends nothing larger than the broker accepts
      properties: v5 ? { sessionExpiryInterval: c.sessionExpiry, maximumPacketSize: this.#maxPacketSize } : undefined,
      log: () => {},
    };
  }

  #drop(): void {
    this.#client = undefined;
    this.#ids = undefined;
    this.#acks = [];
    this.#ackHead = 0;
  }

  #failed(url: string, wasUp: boolean): void {
    if (this.#state === 'stopped') return;
    this.#failures++;
    this.#streak++;
    const reason = this.#reason ?? 'connection closed';
    // Failover: a failed attempt moves on to the next URL; a lost connection is retried on the same one first
    if (!wasUp) this.#urlIndex = (this.#urlIndex + 1) % this.#config.urls.length;
    const delay = backoff(this.#streak, this.#config.reconnectDelay, this.#config.reconnectDelayMax);
    this.#setState('down', reason);
    this.#retryAt = Date.now() + delay;
    const fields = { url, reason, retryInMs: delay, attempt: this.#streak };
    if (wasUp || this.#streak === 1) this.#logger.warn(fields, 'mqtt bridge down');
    else this.#logger.debug(fields, 'mqtt bridge attempt failed');
    this.#timer = setTimeout(() => this.#attempt(), delay);
    this.#timer.unref();
  }

  #setState(state: LinkState, reason: string | undefined): void {
    if (this.#state === 'stopped') return;
    if (state !== this.#state) this.#since = Date.now();
    this.#state = state;
    this.#reason = reason;
    this.#retryAt = undefined;
  }
}
