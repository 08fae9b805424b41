import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { createWebSocketStream, WebSocket } from 'ws';
import type { BridgeTls } from './config.js';

const DEFAULT_PORTS: Readonly<Record<string, number>> = { 'mqtt:': 1883, 'mqtts:': 8883, 'ws:': 80, 'wss:': 443 };

/** Opens the byte stream to a remote broker: TCP, TLS, or WebSocket (subprotocol `mqtt`) over either. */
export function openSocket(url: URL, secure: BridgeTls): Duplex {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? (DEFAULT_PORTS[url.protocol] as number) : Number(url.port);
  const material = { ca: secure.ca, cert: secure.cert, key: secure.key, rejectUnauthorized: secure.rejectUnauthorized };
  if (url.protocol === 'ws:' || url.protocol === 'wss:') {
    const ws = new WebSocket(url, ['mqtt'], url.protocol === 'wss:' ? material : {});
    return createWebSocketStream(ws);
  }
  // Writes of one event-loop turn are corked together (see RemoteLink), so Nagle's delay buys nothing
  if (url.protocol === 'mqtt:') return net.connect({ host, port, noDelay: true });
  const socket = tls.connect({ host, port, servername: net.isIP(host) === 0 ? host : undefined, ...material });
  socket.setNoDelay(true);
  return socket;
}

/**
 * MQTT control packet types (upper four bits of the first byte) the bridge reads itself: PUBLISH
 * (3) to PUBCOMP (7), the message flow both ways. mqtt.js keeps CONNACK, SUBACK, UNSUBACK,
 * PINGRESP and DISCONNECT.
 */
const FIRST_TAPPED = 3;
const LAST_TAPPED = 7;

/** The first byte of a CONNECT, and how many of its first bytes hold its protocol level at most. */
const CONNECT = 0x10;
const HEAD_BYTES = 12;

/**
 * The stream mqtt.js reads and writes for a bridge link. Between mqtt.js and the socket it:
 * - takes the message flow (PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP) out of what mqtt.js reads
 *   and hands it to `tap`, synchronously, a whole read at a time (each run of consecutive such
 *   packets in one piece, whole packets only): the bridge acknowledges the
 *   remote's messages itself, after its commits, in order [MQTT-4.6.0-2], which mqtt.js has no
 *   public way to let it do (it acknowledges as soon as it has handled one); and the remote's
 *   acknowledgements of a read release the next messages together (mqtt.js handles one packet
 *   per tick, which made one write per message);
 * - with `bridgeBit`, sets the bridge bit (protocol level 0x84) in the CONNECT mqtt.js writes
 *   (mqtt.js has no option for it; Mosquitto's try_private).
 * Everything else passes through whole packets at a time. Input above `maxPacketBytes` that is
 * not a whole packet yet ends the connection.
 */
export class BridgeStream extends Duplex {
  readonly socket: Duplex;
  readonly #tap: (frame: Buffer) => void;
  readonly #maxPacketBytes: number;
  #bridgeBit: boolean;
  #written = 0;
  /** The first bytes written (the CONNECT's fixed header and protocol name and level). */
  readonly #head: number[] = [];
  /** The start of a packet not yet whole. */
  #partial: Buffer | undefined;

  constructor(socket: Duplex, tap: (frame: Buffer) => void, bridgeBit: boolean, maxPacketBytes: number) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    this.#tap = tap;
    this.#bridgeBit = bridgeBit;
    this.#maxPacketBytes = maxPacketBytes;
    socket.on('data', (chunk: Buffer) => this.#received(chunk));
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
    socket.on('connect', () => this.emit('connect'));
    socket.on('secureConnect', () => this.emit('secureConnect'));
  }

  /**
   * Writes bytes for the bridge itself, behind everything mqtt.js wrote: straight to the socket
   * when this stream holds nothing back (nothing buffered or corked, and the CONNECT is through),
   * which saves a pass through this stream's Writable per packet; through it otherwise, in order.
   */
  send(bytes: Buffer): void {
    if (this.writableLength === 0 && this.writableCorked === 0 && !this.#bridgeBit && !this.destroyed && !this.writableEnded) this.socket.write(bytes);
    else this.write(bytes);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.socket.write(this.#withBridgeBit(chunk))) done();
    else this.socket.once('drain', () => done());
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    this.socket.cork();
    let flowing = true;
    for (const { chunk } of chunks) flowing = this.socket.write(this.#withBridgeBit(chunk));
    this.socket.uncork();
    if (flowing) done();
    else this.socket.once('drain', () => done());
  }

  override _read(): void {
    this.socket.resume();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.socket.end();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.socket.destroy();
    done(err);
  }

  /** The first bytes written are the CONNECT: its protocol level 4 becomes 0x84. */
  #withBridgeBit(chunk: Buffer): Buffer {
    if (!this.#bridgeBit) return chunk;
    const before = this.#written;
    this.#written += chunk.length;
    const head = this.#head;
    for (let i = 0; i < chunk.length && head.length < HEAD_BYTES; i++) head.push(chunk[i] as number);
    let lengthBytes = 1;
    while (lengthBytes < 4 && ((head[lengthBytes] ?? 0) & 0x80) !== 0) lengthBytes++;
    // Type byte, Remaining Length, then the protocol name "MQTT" with its two length bytes, then the level
    const level = 1 + lengthBytes + 6;
    if (head.length <= level) return chunk; // not written yet
    this.#bridgeBit = false;
    if (head[0] !== CONNECT || head[level] !== 4 || level < before) return chunk;
    const copy = Buffer.from(chunk);
    copy[level - before] = 0x84;
    return copy;
  }

  #received(chunk: Buffer): void {
    const buf = this.#partial === undefined ? chunk : Buffer.concat([this.#partial, chunk]);
    this.#partial = undefined;
    let start = 0;
    let passFrom = 0;
    /** Where the current run of tapped packets starts (-1: none). */
    let tapFrom = -1;
    let flowing = true;
    for (;;) {
      const end = packetEnd(buf, start);
      if (end === -1) {
        this.destroy(new Error('the remote sent a malformed Remaining Length'));
        return;
      }
      if (end === undefined || end > buf.length) break;
      const type = (buf[start] as number) >> 4;
      if (type >= FIRST_TAPPED && type <= LAST_TAPPED) {
        // A run of consecutive tapped packets goes to the tap in one piece (one decoder write)
        if (tapFrom === -1) {
          if (start > passFrom) flowing = this.push(buf.subarray(passFrom, start)) && flowing;
          tapFrom = start;
        }
        passFrom = end;
      } else if (tapFrom !== -1) {
        this.#tap(buf.subarray(tapFrom, start));
        tapFrom = -1;
      }
      start = end;
    }
    if (tapFrom !== -1) this.#tap(buf.subarray(tapFrom, passFrom));
    if (start > passFrom) flowing = this.push(buf.subarray(passFrom, start)) && flowing;
    if (start < buf.length) {
      if (buf.length - start > this.#maxPacketBytes) {
        this.destroy(new Error(`the remote sent a packet larger than ${this.#maxPacketBytes} bytes`));
        return;
      }
      this.#partial = Buffer.from(buf.subarray(start));
    }
    if (!flowing) this.socket.pause();
  }
}

/** Where the packet starting at `start` ends, or undefined while its Remaining Length is incomplete. */
function packetEnd(buf: Buffer, start: number): number | undefined {
  let length = 0;
  let multiplier = 1;
  for (let i = start + 1; i < start + 5; i++) {
    if (i >= buf.length) return undefined;
    const byte = buf[i] as number;
    length += (byte & 0x7f) * multiplier;
    multiplier *= 128;
    if ((byte & 0x80) === 0) return i + 1 + length;
  }
  return -1; // more than four bytes: malformed
}
