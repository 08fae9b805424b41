import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { BrokerError, isBrokerError } from '../errors.js';
import type { ClientInfo, DropReason, PeerCertificate, ProtocolVersion } from '../model.js';
import { Decoder, encode, packetSize, type DecoderEvents, type Packet } from '../protocol/codec.js';
import { connackPacket, disconnectPacket, pubrelPacket } from '../protocol/packets.js';
import type { PublishEncoder } from '../protocol/publish-encoder.js';
import { CONNACK_REASONS, ReasonCode, SERVER_DISCONNECT_REASONS } from '../protocol/reason-codes.js';
import type { Delivery } from '../broker/inflight.js';
import type { Outlet, Session } from '../broker/session.js';
import type { Stats } from '../broker/stats.js';
import type { Authentication } from './authentication.js';
import type { AcceptedClient } from './client.js';
import { PublishThrottle, RateLimit } from './rate-limit.js';
import { ackProblem, answersConnect, refusalProperties } from './problems.js';

/** What a Connection needs from the broker. */
export interface ConnectionHost {
  readonly logger: Logger;
  readonly encoder: PublishEncoder;
  /** Traffic counters (packets, bytes, PUBLISH by QoS). */
  readonly stats: Stats;
  readonly limits: {
    maxPacketSize: number;
    connectTimeout: number;
    maxWriteBuffer: number;
    maxPendingPackets: number;
    slowConsumerTimeout: number;
    publishRateMessages: number;
    publishRateBytes: number;
    certAsUsername: boolean;
  };
  /** Called when a client is disconnected for not reading (slowConsumerTimeout). */
  stalled?(connection: Connection): void;
  /** Handles one packet; a returned promise holds back later packets until it settles. */
  dispatch(connection: Connection, packet: Packet): void | Promise<void>;
  /**
   * Called once, as soon as the connection is over: the peer ended its side, the broker ended the
   * connection, or the socket closed, whichever comes first (before `closed`). Connection limits
   * count a connection until then, so a client that closes and at once reconnects is not refused.
   */
  released(connection: Connection): void;
  /**
   * Called once when the connection is over: when the broker ends it (it reads nothing more, so a
   * silent or hung peer cannot hold back its will [MQTT-3.1.2-8]), or else when its socket closes.
   */
  closed(connection: Connection): void;
  /** A connection's first keepalive deadline (performance.now() time); see KeepaliveSweep. */
  keepaliveDue(at: number): void;
}

type Phase = 'new' | 'connecting' | 'connected' | 'closed';

/** Who a CONNECT says it is, before it is accepted. */
export interface ClaimedIdentity {
  readonly clientId: string;
  readonly username: string | undefined;
}

/** What a client states in its CONNECT before anything is answered (MQTT 5; 3.1.1 has neither). */
export interface ConnectLimits {
  /** The client's Maximum Packet Size: no packet to it may be larger [MQTT-3.1.2-24]. */
  readonly maxPacketSize: number;
  /** Request Problem Information [MQTT-3.1.2-29]. */
  readonly problemInformation: boolean;
}

/** A Connection whose CONNECT was accepted: what handlers after CONNACK receive, with no casts. */
export type AcceptedConnection = Connection & {
  readonly client: AcceptedClient;
  readonly info: ClientInfo;
  readonly session: Session;
};

const MAX_TIMER = 2 ** 31 - 1;

/** The stream's own Connection, read by the shared stream listeners. */
const CONNECTION = Symbol('midge.connection');
type OwnedStream = Duplex & { [CONNECTION]: Connection };

/**
 * One Connection per socket: parse → ordered dispatch → write (batched per event-loop turn).
 * Packets are handled strictly in arrival order; while an async handler runs, later packets
 * wait in a bounded queue and reads pause when it is full.
 */
/**
 * Bytes waiting in a stream's write queue from which the writes of a turn are joined into one buffer
 * (see writeBuffer). A client that keeps up never has this much waiting (the kernel takes it), so its
 * packets go out as one writev without being copied.
 */
const JOIN_BACKLOG = 64 * 1024;

export class Connection implements Outlet, DecoderEvents {
  readonly stream: Duplex;
  readonly listener: string;
  readonly remoteAddress: string | undefined;
  /** The verified client certificate (TLS and WSS listeners). */
  readonly certificate: PeerCertificate | undefined;
  /** The username a verified certificate gives, when certificates are used as usernames. */
  readonly certificateUsername: string | undefined;
  #protocolVersion: ProtocolVersion = 4;
  #claimed: ClaimedIdentity | undefined;
  #maxOutboundPacketSize = Number.POSITIVE_INFINITY;
  #problemInformation = true;
  #authentication: Authentication | undefined;
  /** Set once, at CONNACK. */
  #client: AcceptedClient | undefined;
  #disconnectNotified = false;
  #closeReason = 'socket closed';
  #closeCode: string | undefined;
  readonly #host: ConnectionHost;
  readonly #decoder: Decoder;
  /** Packets parsed while a handler runs or the publish rate is exceeded; created when first needed. */
  #pending: Packet[] | undefined;
  /** 1.5× the keepalive in ms (0: not enforced) and when data last arrived (performance.now()); see KeepaliveSweep. */
  #keepaliveMs = 0;
  #lastSeen = 0;
  #phase: Phase = 'new';
  #busy = false;
  #inputFull = false;
  #outputFull = false;
  #destroyTimer: NodeJS.Timeout | undefined;
  /** Writes of this turn to a client that is behind, joined at the end of the turn (see writeBuffer). */
  #out: Buffer[] | undefined;
  #outBytes = 0;
  #corked = false;
  /** Set once the host was told the connection is over (see ConnectionHost.released). */
  #released = false;
  #connectTimer: NodeJS.Timeout | undefined;
  #stallTimer: NodeJS.Timeout | undefined;
  /** The publish rate limit, when one is configured. */
  readonly #throttle: PublishThrottle | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;

  constructor(
    stream: Duplex,
    listener: string,
    remoteAddress: string | undefined,
    host: ConnectionHost,
    certificate?: PeerCertificate,
  ) {
    this.stream = stream;
    this.listener = listener;
    this.remoteAddress = remoteAddress;
    this.certificate = certificate;
    this.certificateUsername = host.limits.certAsUsername ? certificate?.commonName || undefined : undefined;
    this.#host = host;
    const { publishRateMessages, publishRateBytes } = host.limits;
    if (publishRateMessages > 0 || publishRateBytes > 0) {
      this.#throttle = new PublishThrottle(new RateLimit(publishRateMessages, publishRateBytes), () => {
        this.#processPending();
        this.#updateReading();
      });
    }
    this.#decoder = new Decoder(this);
    this.#connectTimer = setTimeout(() => this.abort(new BrokerError('ERR_CONNECT_TIMEOUT')), host.limits.connectTimeout);
    // Shared listeners that find this connection on the stream: a closure per listener (and
    // their context) was about 230 bytes of every idle connection's heap
    (stream as OwnedStream)[CONNECTION] = this;
    stream.on('data', Connection.#streamData);
    stream.on('error', Connection.#streamError);
    stream.on('end', Connection.#streamEnd);
    stream.on('close', Connection.#streamClose);
  }

  static #streamData(this: Duplex, chunk: Buffer): void {
    (this as OwnedStream)[CONNECTION].#onData(chunk);
  }

  static #streamError(this: Duplex, err: Error): void {
    (this as OwnedStream)[CONNECTION].#onStreamError(err);
  }

  static #streamEnd(this: Duplex): void {
    (this as OwnedStream)[CONNECTION].#onEnd();
  }

  static #streamClose(this: Duplex): void {
    (this as OwnedStream)[CONNECTION].#onClose();
  }

  get phase(): Phase {
    return this.#phase;
  }

  /** True once the connection is closing or closed. */
  get closed(): boolean {
    return this.#phase === 'closed';
  }

  get congested(): boolean {
    return this.stream.writableLength + this.#outBytes > this.#host.limits.maxWriteBuffer;
  }

  /** The protocol level of the CONNECT (4 until one arrives). */
  get protocolVersion(): ProtocolVersion {
    return this.#protocolVersion;
  }

  /** The client's Maximum Packet Size (MQTT 5); Infinity when it sent none. */
  get maxOutboundPacketSize(): number {
    return this.#maxOutboundPacketSize;
  }

  /** MQTT 5 Request Problem Information: false limits Reason Strings and User Properties to CONNACK, DISCONNECT and PUBLISH [MQTT-3.1.2-29]. */
  get problemInformation(): boolean {
    return this.#problemInformation;
  }

  /** Set while authenticating and, with enhanced authentication, for re-authentication. */
  get authentication(): Authentication | undefined {
    return this.#authentication;
  }

  /** The accepted client; undefined until CONNACK. */
  get client(): AcceptedClient | undefined {
    return this.#client;
  }

  /** The client id once accepted ('' before). */
  get clientId(): string {
    return this.#client?.id ?? '';
  }

  get info(): ClientInfo | undefined {
    return this.#client?.info;
  }

  get session(): Session | undefined {
    return this.#client?.session;
  }

  /** The client's Receive Maximum (65535 when it sent none). */
  get receiveMaximum(): number {
    return this.#client?.receiveMaximum ?? 65535;
  }

  /** True when observers were already told this connection ended (takeover). */
  get disconnectNotified(): boolean {
    return this.#disconnectNotified;
  }

  /** Why the connection closed, for logs and onDisconnected. */
  get closeReason(): string {
    return this.#closeReason;
  }

  /** The error code that closed the connection, when an error did. */
  get closeCode(): string | undefined {
    return this.#closeCode;
  }

  /** True once the CONNECT was accepted (CONNACK sent). */
  isAccepted(): this is AcceptedConnection {
    return this.#client !== undefined;
  }

  /**
   * Marks the CONNECT as being processed; a second CONNECT is then a protocol error [MQTT-3.1.0-2].
   * The client's limits are known before any refusal is sent, so a CONNACK never exceeds them [MQTT-3.2.2-19].
   */
  beginConnect(version: ProtocolVersion, limits?: ConnectLimits, claimed?: ClaimedIdentity): void {
    this.#phase = 'connecting';
    this.#protocolVersion = version;
    this.#claimed = claimed;
    if (limits === undefined) return;
    this.#maxOutboundPacketSize = limits.maxPacketSize;
    this.#problemInformation = limits.problemInformation;
  }

  /** The client id and username the CONNECT gave, until it is accepted or refused (for the refusal's log line). */
  get claimed(): ClaimedIdentity | undefined {
    return this.#claimed;
  }

  /** Starts authentication with the CONNECT's Authentication Method (undefined: plain credentials). */
  beginAuthentication(method: string | undefined): Authentication {
    this.#authentication = { method, exchange: undefined };
    return this.#authentication;
  }

  /** Observers were told this connection ended, because a new connection took its session over. */
  takenOver(): void {
    this.#disconnectNotified = true;
  }

  /** The CONNECT is authenticated and waits on something bounded by its own deadline (cluster mode: the session's acquire). */
  stopConnectTimer(): void {
    clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
  }

  /**
   * Marks the connection accepted (once CONNACK is sent) with the facts of its client, and starts
   * keepalive checks at 1.5× [MQTT-3.1.2-24].
   */
  accept(client: AcceptedClient): asserts this is AcceptedConnection {
    this.#client = client;
    this.#phase = 'connected';
    this.#claimed = undefined; // only a refusal's log line reads it; an accepted client has its info
    clearTimeout(this.#connectTimer); // the deadline covers authentication too
    this.#connectTimer = undefined;
    this.#keepaliveMs = client.keepalive * 1500;
    this.#lastSeen = performance.now();
    if (this.#keepaliveMs > 0) this.#host.keepaliveDue(this.#lastSeen + this.#keepaliveMs);
  }

  /**
   * Called by the broker's KeepaliveSweep: silence for 1.5× the keepalive closes the connection
   * [MQTT-3.1.2-24]. Returns when the connection is due next (Infinity: never).
   */
  checkKeepalive(now: number): number {
    if (this.#keepaliveMs === 0 || this.#phase !== 'connected') return Number.POSITIVE_INFINITY;
    const deadline = this.#lastSeen + this.#keepaliveMs;
    if (now < deadline) return deadline;
    this.abort(new BrokerError('ERR_KEEPALIVE_TIMEOUT'));
    return Number.POSITIVE_INFINITY;
  }

  /**
   * Ends the connection when its authentication expires (e.g. a token's exp): MQTT 5 clients get
   * DISCONNECT 0xA0. `undefined` removes the limit; a re-authentication may set a new one.
   */
  expireAt(at: number | undefined): void {
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    if (at === undefined || this.#phase === 'closed') return;
    const delay = at - Date.now();
    // Timers hold at most 2^31-1 ms (about 24.8 days): a later expiry re-arms when that one fires
    this.#expiryTimer = setTimeout(
      () => (delay > MAX_TIMER ? this.expireAt(at) : this.abort(new BrokerError('ERR_AUTH_EXPIRED'))),
      Math.max(0, Math.min(delay, MAX_TIMER)),
    );
  }

  #onData(chunk: Buffer): void {
    if (this.#phase === 'closed') return;
    this.#lastSeen = performance.now();
    this.#host.stats.bytesReceived += chunk.length;
    this.#decoder.write(chunk);
    // Refuse an oversize packet as soon as its header is read, before it is buffered whole.
    if (this.#decoder.pendingSize > this.#host.limits.maxPacketSize) {
      this.abort(new BrokerError('ERR_PACKET_TOO_LARGE', `${this.#decoder.pendingSize} bytes`));
    }
  }

  /** From the Decoder: the next packet, handled in order. */
  packetDecoded(packet: Packet): void {
    if (this.#phase === 'closed') return;
    this.#host.stats.packetsReceived++;
    const size = packetSize(packet.length ?? 0);
    if (size > this.#host.limits.maxPacketSize) {
      this.abort(new BrokerError('ERR_PACKET_TOO_LARGE', `${size} bytes`));
      return;
    }
    // Packets parsed while a handler runs, or while the publish rate is exceeded, wait in order
    if (this.#busy || this.#throttled) {
      const pending = (this.#pending ??= []);
      pending.push(packet);
      if (pending.length >= this.#host.limits.maxPendingPackets && !this.#inputFull) {
        this.#inputFull = true;
        this.#updateReading();
      }
      return;
    }
    this.#admit(packet);
  }

  #admit(packet: Packet): void {
    // Above the publish rate limit reading pauses for a while; nothing is dropped
    if (packet.cmd === 'publish' && this.#throttle?.take(packetSize(packet.length ?? 0))) this.#updateReading();
    this.#run(packet);
  }

  #run(packet: Packet): void {
    let result: void | Promise<void>;
    try {
      result = this.#host.dispatch(this, packet);
    } catch (err) {
      this.abort(err);
      return;
    }
    if (result) {
      this.#busy = true;
      result.then(
        () => {
          this.#busy = false;
          this.#processPending();
        },
        (err: unknown) => this.abort(err),
      );
    }
  }

  #processPending(): void {
    const pending = this.#pending;
    while (pending !== undefined && !this.#busy && !this.#throttled && pending.length > 0 && this.#phase !== 'closed') {
      this.#admit(pending.shift() as Packet);
    }
    if (!this.#busy && !this.#throttled && this.#inputFull && this.#phase !== 'closed') {
      this.#inputFull = false;
      this.#updateReading();
    }
  }

  get #throttled(): boolean {
    return this.#throttle?.paused ?? false;
  }

  /** Reads pause while the input queue is full, the client is not reading what we write, or it publishes too fast. */
  #updateReading(): void {
    const pause = this.#inputFull || this.#outputFull || this.#throttled;
    if (pause && !this.stream.isPaused()) this.stream.pause();
    else if (!pause && this.stream.isPaused() && this.#phase !== 'closed') this.stream.resume();
  }

  /** From the Decoder: the client sent something that is not a valid packet. */
  decodeFailed(err: Error): void {
    if (this.#phase === 'new' && /protocol version/i.test(err.message)) {
      // [MQTT-3.1.2-2] unsupported protocol level: CONNACK 0x01 and close (connackPacket takes the MQTT 5 code)
      this.writeBuffer(encode(connackPacket(4, ReasonCode.UnsupportedProtocolVersion, false), 4));
      this.end('unsupported protocol level');
      return;
    }
    if (this.#phase === 'new' && this.#decoder.connectVersion === 5) {
      // [MQTT-3.1.4-1] a CONNECT that does not conform is closed; MQTT 5 may say why first with a
      // CONNACK 0x81 / 0x82 (section 4.13.1), 3.1.1 closes without one. The client's Maximum
      // Packet Size is unknown, so the CONNACK carries no Reason String (see refusalProperties).
      this.beginConnect(5, { maxPacketSize: 0, problemInformation: true });
    }
    // The decoder reports a Protocol Error as a BrokerError; anything else mqtt-packet refused is malformed
    this.abort(isBrokerError(err) ? err : new BrokerError('ERR_MALFORMED_PACKET', err.message));
  }

  /** Encodes and writes a packet at this connection's protocol level. */
  send(packet: Packet): void {
    this.writeBuffer(encode(packet, this.#protocolVersion));
  }

  /**
   * Writes bytes. The writes of one event-loop turn go out together at its end: corked, as one
   * writev, while the client keeps up. Once more than JOIN_BACKLOG is waiting in the stream (the
   * client reads slowly or not at all), the turn's writes are joined into one buffer instead, one
   * entry in the stream's write queue rather than one per packet: a client that stops reading holds
   * up to `maxWriteBuffer` in one entry per turn rather than one per packet (100,000 with small
   * QoS 0 messages), which Node would otherwise fail one by one (a new Error each) when the socket
   * is destroyed, blocking the event loop for up to a second (bench/README.md, Isolation).
   */
  writeBuffer(buf: Buffer): void {
    if (this.#phase === 'closed' || this.stream.writableEnded) return;
    if (this.#out !== undefined) {
      this.#out.push(buf);
      this.#outBytes += buf.length;
    } else if (this.stream.writableLength >= JOIN_BACKLOG) {
      this.#out = [buf];
      this.#outBytes = buf.length;
      process.nextTick(Connection.#flushTurn, this); // after #uncork, when this turn began corked
    } else {
      if (!this.#corked) {
        this.#corked = true;
        this.stream.cork();
        process.nextTick(Connection.#uncork, this); // a static function: no closure per connection
      }
      this.stream.write(buf);
    }
    this.#host.stats.packetsSent++;
    this.#host.stats.bytesSent += buf.length;
    // The write buffer is bounded: a client that does not read gets no more of its packets read
    if (!this.#outputFull && this.congested) {
      this.#flushOut();
      this.#outputFull = true;
      this.#updateReading();
      this.#startStallTimer();
      const resume = () => {
        this.#outputFull = false;
        clearTimeout(this.#stallTimer);
        this.#updateReading();
      };
      // 'drain' only follows a write that returned false; below that threshold, an empty write's
      // callback runs once everything before it is flushed
      if (this.stream.writableNeedDrain) this.stream.once('drain', resume);
      else this.stream.write(Buffer.alloc(0), resume);
    }
  }

  /** Gives the stream what was joined in this turn. */
  #flushOut(): void {
    const out = this.#out;
    if (out === undefined) return;
    const bytes = this.#outBytes;
    this.#out = undefined;
    this.#outBytes = 0;
    if (this.stream.writableEnded || this.stream.destroyed) return;
    this.stream.write(out.length === 1 ? out[0]! : Buffer.concat(out, bytes));
  }

  static #flushTurn(connection: Connection): void {
    connection.#flushOut();
  }

  static #uncork(connection: Connection): void {
    connection.#corked = false;
    connection.stream.uncork();
  }

  /** A client whose write buffer stays above the bound for slowConsumerTimeout is disconnected. */
  #startStallTimer(): void {
    const timeout = this.#host.limits.slowConsumerTimeout;
    if (timeout <= 0) return;
    this.#stallTimer = setTimeout(() => {
      this.#host.logger.info({ clientId: this.clientId, buffered: this.stream.writableLength }, 'disconnecting a client that stopped reading');
      this.#host.stalled?.(this);
      // Nothing more can reach a client that does not read, not even a DISCONNECT
      if (this.#phase !== 'closed') this.#closeReason = new BrokerError('ERR_SLOW_CONSUMER', `stalled for ${timeout} ms`).message;
      this.stream.destroy();
    }, timeout);
  }

  sendPublish(delivery: Delivery, dup: boolean): DropReason | undefined {
    const aliases = this.#client?.outboundAliases;
    const topic = delivery.message.topic;
    // Retransmissions too use this connection's aliases: a new connection starts with none [MQTT-3.3.2-7]
    const alias = aliases?.choose(topic);
    let buf: Buffer;
    try {
      buf = this.#host.encoder.encode(delivery, dup, this.#protocolVersion, alias);
    } catch (err) {
      // One subscriber's unencodable message must not stop the fan-out or fail the publisher
      this.#host.logger.error({ err, clientId: this.clientId, topic }, 'cannot encode PUBLISH');
      return 'unencodable';
    }
    // 5.0 [MQTT-3.1.2-24]: the size checked is that of the packet as sent, alias included
    if (buf.length > this.#maxOutboundPacketSize) return 'packet-too-large';
    if (alias !== undefined) aliases?.commit(topic, alias); // only a mapping the client receives counts
    this.writeBuffer(buf);
    if (!dup) this.#host.stats.messagesSentByQos[delivery.qos]++;
    return undefined;
  }

  sendPubrel(packetId: number): void {
    this.send(pubrelPacket(packetId, ReasonCode.Success));
  }

  /**
   * The one error boundary: turns an error into the spec's answer (CONNACK refusal while
   * connecting, DISCONNECT with a reason code for MQTT 5 once connected) and closes.
   */
  abort(err: unknown): void {
    if (this.#phase === 'closed') return;
    const error = isBrokerError(err) ? err : new BrokerError('ERR_INTERNAL', undefined, { cause: err });
    if (!isBrokerError(err)) this.#host.logger.error({ err, clientId: this.clientId }, 'unexpected error in handler');
    else this.#host.logger.debug({ clientId: this.clientId, code: error.code }, error.message);
    if (this.#phase === 'connecting' && answersConnect(this.#protocolVersion, error)) {
      const code = CONNACK_REASONS.has(error.reasonCode) ? error.reasonCode : ReasonCode.UnspecifiedError;
      this.send(connackPacket(this.#protocolVersion, code, false, refusalProperties(this.#protocolVersion, this.#maxOutboundPacketSize, error)));
    } else if (this.#phase === 'connected' && this.#protocolVersion === 5) {
      const code = SERVER_DISCONNECT_REASONS.has(error.reasonCode) ? error.reasonCode : ReasonCode.UnspecifiedError;
      this.send(disconnectPacket(code, refusalProperties(this.#protocolVersion, this.#maxOutboundPacketSize, error)));
    }
    this.#closeCode = error.code;
    this.end(error.message);
  }

  /**
   * Shutdown: MQTT 5 clients get DISCONNECT 0x8B, then the connection closes; resolves once the
   * socket is closed, or after 2 s (the socket is destroyed then).
   */
  closeForShutdown(): Promise<void> {
    return new Promise((resolve) => {
      this.stream.once('close', () => resolve());
      if (this.#phase === 'connected' && this.#protocolVersion === 5) this.send(disconnectPacket(ReasonCode.ServerShuttingDown, undefined));
      this.end('server shutting down');
      setTimeout(() => {
        this.stream.destroy();
        resolve();
      }, 2000).unref();
      if (this.stream.destroyed) resolve();
    });
  }

  /** A Reason String for an acknowledgement, where the client allows it (see ackProblem). */
  problem(text: string, size: number): { reasonString: string } | undefined {
    return ackProblem(this, text, size);
  }

  /** Closes after flushing what was written; destroys the socket if the peer does not finish. */
  end(reason: string): void {
    if (this.#phase === 'closed') return;
    this.#closeReason = reason;
    this.#phase = 'closed';
    this.#pending = undefined;
    this.#flushOut();
    this.stream.end();
    this.#destroyTimer = setTimeout(() => this.stream.destroy(), 1000);
    this.#destroyTimer.unref();
    this.#release();
    this.#host.closed(this);
  }

  /** The peer ended its side: the connection is over (an MQTT connection is never half-open). */
  #onEnd(): void {
    // A TCP socket ends its side by itself (allowHalfOpen false); a WebSocket stream does not
    if (this.stream.allowHalfOpen !== false) {
      this.#flushOut();
      this.stream.end();
    }
    this.#release();
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#host.released(this);
  }

  #onStreamError(err: Error): void {
    this.#host.logger.debug({ err, clientId: this.clientId }, 'socket error');
    if (this.#phase !== 'closed') this.#closeReason = `socket error: ${err.message}`;
    this.stream.destroy();
  }

  #onClose(): void {
    const wasClosed = this.#phase === 'closed';
    this.#phase = 'closed';
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#destroyTimer);
    clearTimeout(this.#stallTimer);
    this.#throttle?.stop();
    clearTimeout(this.#expiryTimer);
    if (wasClosed) return; // end() has told the host
    if (this.#closeReason === 'socket closed') this.#closeReason = 'connection lost';
    this.#release();
    this.#host.closed(this);
  }
}
