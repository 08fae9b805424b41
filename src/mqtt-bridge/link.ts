import type { IClientOptions, IConnackPacket, MqttClient, Packet } from 'mqtt';
import type { Logger } from 'pino';
import { encode, type PublishPacket } from '../protocol/codec.js';
import { AckTicket } from './acks.js';
import type { MqttBridgeConfig } from './config.js';

/** Where a link stands: connecting (an attempt is under way), connected, down (waiting to retry), stopped. */
export type LinkState = 'connecting' | 'connected' | 'down' | 'stopped';

/** What a link reports to its bridge. */
export interface LinkHost {
  /** CONNACK arrived: the link is usable through `client` until `down()`. */
  up(client: MqttClient, connack: IConnackPacket): void;
  /** The connection that was `up` is gone. */
  down(): void;
  /** A packet from the remote, before mqtt.js handles it. */
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

type SendPacket = (packet: Packet, cb?: (err?: Error) => void, cbStorePut?: unknown, noStore?: boolean) => void;
type Connect = (url: string, options: IClientOptions) => MqttClient;
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
 * A bridge's connection to the remote broker through mqtt.js, one MqttClient per attempt: it tries
 * the URLs in turn (failover), waits with exponential backoff, jitter and a cap between failed
 * attempts, and reports the connection's life to its bridge.
 *
 * mqtt.js connects (TCP, TLS, WebSocket), keeps the connection alive and subscribes. The bridge's
 * own traffic bypasses its per-message machinery (its outgoing store, callbacks and promises):
 * - Outbound PUBLISH and PUBREL are encoded by Midge's codec and written to the client's stream
 *   (`MqttClient.stream`, public), batched per event-loop turn. mqtt.js never knew of them, so it
 *   ignores their acknowledgements (the bridge reads them from 'packetreceive') and sends no
 *   PUBREL of its own: the session sends it once the 'pubrel' state is committed [MQTT-4.3.3-4].
 * - Inbound acknowledgements are the bridge's to time, and here mqtt.js has no public way: it
 *   sends PUBACK/PUBREC/PUBCOMP itself as soon as it has handled a packet, and its only hooks that
 *   delay them (`handleMessage`, and `customHandleAcks` for MQTT 5) stop it from reading the next
 *   packet until the callback, which would make one store commit per message instead of a group
 *   commit per window. So the link wraps the client's `_sendPacket` (mqtt.js 5.16.0, pinned) for
 *   those three packet types only: mqtt.js goes on at once, and each acknowledgement waits until
 *   the local commit it was given (`hold`), in the order the packets came [MQTT-4.6.0-2].
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
  /** The ticket of each acknowledgement mqtt.js is about to send, by `cmd:packetId`. */
  readonly #holds = new Map<string, AckTicket>();
  /** Acknowledgements mqtt.js sent, in order, each waiting for its ticket [MQTT-4.6.0-2]. */
  #acks: { packet: Packet; ticket: AckTicket }[] = [];
  #ackHead = 0;
  #connect: Connect | undefined;
  /** The stream is corked until the end of this event-loop turn (see #write). */
  #corked = false;

  constructor(config: MqttBridgeConfig, host: LinkHost, logger: Logger) {
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
    this.#connect ??= (await import('mqtt')).connect as Connect;
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
    this.#holds.set(`${cmd}:${id}`, ticket);
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

  /** An acknowledgement of an outbound PUBLISH or PUBREL arrived: its packet id is free again. */
  #acknowledged(packet: Packet): void {
    const failed = (packet as { reasonCode?: number }).reasonCode ?? 0;
    if (packet.cmd === 'puback' || packet.cmd === 'pubcomp' || (packet.cmd === 'pubrec' && failed >= 0x80)) this.#ids?.deallocate(packet.messageId as number);
  }

  /** Bytes waiting in the socket's write buffer. */
  get writeBacklog(): number {
    return this.#client?.stream?.writableLength ?? 0;
  }

  /** Sends PUBREL for an outbound QoS 2 message (its 'pubrel' state is committed) [MQTT-4.3.3-4]. */
  sendPubrel(packetId: number): void {
    if (this.#state !== 'connected' || this.#client === undefined) return;
    this.#write(encode({ cmd: 'pubrel', messageId: packetId }, this.#config.protocolVersion));
  }

  /** Writes bytes after everything mqtt.js wrote; the writes of one event-loop turn leave in one system call. */
  #write(bytes: Buffer): void {
    const stream = (this.#client as MqttClient).stream;
    if (!this.#corked) {
      this.#corked = true;
      stream.cork();
      process.nextTick(() => {
        this.#corked = false;
        stream.uncork();
      });
    }
    stream.write(bytes);
  }

  #attempt(): void {
    if (this.#state === 'stopped') return;
    const url = this.#config.urls[this.#urlIndex] as string;
    this.#setState('connecting', undefined);
    this.#ids = new PacketIds();
    const client = (this.#connect as Connect)(url, { ...this.#options(), messageIdProvider: this.#ids, manualConnect: true });
    this.#client = client;
    this.#intercept(client);
    if (this.#config.protocolVersion === 4 && this.#config.bridgeBit) {
      // 'packetsend' comes just before mqtt.js writes the packet, with the packet itself: mqtt-packet
      // then writes protocol level 0x84 (3.1.1 with the bridge bit), which mqtt.js has no option for
      client.on('packetsend', (packet) => {
        if (packet.cmd === 'connect') (packet as { bridgeMode?: boolean }).bridgeMode = true;
      });
    }
    let wasUp = false;
    client.on('packetreceive', (packet) => {
      if (this.#client !== client || !wasUp) return;
      this.#acknowledged(packet);
      this.#host.packet(packet);
    });
    client.on('connect', (connack) => {
      if (this.#client !== client) return;
      wasUp = true;
      this.#connects++;
      this.#streak = 0;
      this.#setState('connected', undefined);
      this.#logger.info({ url, sessionPresent: connack.sessionPresent }, 'mqtt bridge connected');
      this.#host.up(client, connack);
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
      properties: v5 ? { sessionExpiryInterval: c.sessionExpiry } : undefined,
      ca: c.tls.ca,
      cert: c.tls.cert,
      key: c.tls.key,
      rejectUnauthorized: c.tls.rejectUnauthorized,
      log: () => {},
    };
  }

  /** Wraps mqtt.js's `_sendPacket` to time inbound acknowledgements (see the class comment). */
  #intercept(client: MqttClient): void {
    const internals = client as unknown as { _sendPacket: SendPacket };
    const write = internals._sendPacket.bind(client);
    this.#acks = [];
    this.#ackHead = 0;
    internals._sendPacket = (packet, cb, cbStorePut, noStore) => {
      if (packet.cmd !== 'puback' && packet.cmd !== 'pubrec' && packet.cmd !== 'pubcomp') return write(packet, cb, cbStorePut, noStore);
      const key = `${packet.cmd}:${packet.messageId}`;
      const ticket = this.#holds.get(key);
      this.#holds.delete(key);
      cb?.(); // mqtt.js handles the next packet meanwhile
      if (this.#client !== client) return;
      // Not held (not a message the bridge took, e.g. one mqtt.js answers itself): in order, at once
      this.#acks.push({ packet: { cmd: packet.cmd, messageId: packet.messageId } as Packet, ticket: ticket ?? AckTicket.READY });
      this.settled();
    };
  }

  #drop(): void {
    this.#client = undefined;
    this.#ids = undefined;
    this.#holds.clear();
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
