import type { Duplex } from 'node:stream';
import type { Endpoint } from './endpoint.js';
import { openStream } from './endpoint.js';
import { FrameReader } from './frames.js';

/** MQTT quality of service level. */
export type QoS = 0 | 1 | 2;

/** Where and as whom a BenchClient connects. */
export interface ClientOptions {
  endpoint: Endpoint;
  clientId: string;
  username?: string;
  password?: string;
  keepalive: number;
  /** false asks the broker to keep the session (and its queued messages) across connections; default true. */
  cleanSession?: boolean;
  /** Milliseconds to wait for the connection, and again for the CONNACK. */
  timeoutMs: number;
}

/** Callbacks a BenchClient makes; all optional and synchronous. */
export interface ClientHandlers {
  /** A PUBLISH arrived (acks are sent by the client). */
  onMessage?: (payload: Buffer) => void;
  /** One of our QoS 1/2 publishes completed (PUBACK or PUBCOMP). */
  onComplete?: () => void;
  /** The socket's write buffer drained after a write returned false. */
  onDrain?: () => void;
  /** The connection closed without close() being called. */
  onLost?: (reason: string) => void;
}

/** A pending wait for one control packet (CONNACK, SUBACK). */
interface Waiter {
  /** Gets the CONNACK return code or the first SUBACK grant. */
  resolve: (code: number) => void;
  reject: (err: Error) => void;
}

const TYPE_CONNACK = 2;
const TYPE_PUBLISH = 3;
const TYPE_PUBACK = 4;
const TYPE_PUBREC = 5;
const TYPE_PUBREL = 6;
const TYPE_PUBCOMP = 7;
const TYPE_SUBACK = 9;
const TYPE_PINGRESP = 13;
const ACK_PUBACK = 0x40;
const ACK_PUBREC = 0x50;
const ACK_PUBREL = 0x62;
const ACK_PUBCOMP = 0x70;
/** PINGREQ: a whole packet. */
const PINGREQ = Buffer.from([0xc0, 0]);

/**
 * A lean MQTT 3.1.1 client for load generation. Every packet is encoded and decoded by hand, so
 * the generator costs far less CPU per message than the broker under test and shares no codec
 * with it; acks for one read are corked into one write. It never reconnects or retransmits.
 */
export class BenchClient {
  readonly #socket: Duplex;
  readonly #reader: FrameReader;
  readonly #handlers: ClientHandlers = {};
  readonly #waiters = new Map<number, Waiter>();
  #nextId = 0;
  #outstanding = 0;
  #closing = false;

  private constructor(socket: Duplex) {
    this.#socket = socket;
    this.#reader = new FrameReader((header, body) => this.#onFrame(header, body));
    socket.on('data', (chunk: Buffer) => {
      socket.cork();
      try {
        this.#reader.push(chunk);
      } catch (err) {
        this.#lose(`protocol error: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        socket.uncork();
      }
    });
    socket.on('drain', () => this.#handlers.onDrain?.());
    socket.on('error', (err) => this.#lose(err.message));
    socket.on('close', () => this.#lose('socket closed'));
  }

  /** Opens a connection (TCP or WebSocket), sends CONNECT and resolves on a successful CONNACK. */
  static async connect(options: ClientOptions): Promise<BenchClient> {
    const socket = await openStream(options.endpoint, options.timeoutMs);
    const client = new BenchClient(socket);
    const connack = client.#await(TYPE_CONNACK, options.timeoutMs);
    socket.write(encodeConnect(options));
    const returnCode = await connack.catch((err: unknown) => {
      client.close();
      throw err;
    });
    if (returnCode !== 0) {
      client.close();
      throw new Error(`CONNACK refused with return code ${returnCode}`);
    }
    return client;
  }

  /** Adds or replaces callbacks; callbacks not given keep their earlier value. */
  setHandlers(handlers: ClientHandlers): void {
    Object.assign(this.#handlers, handlers);
  }

  /** Subscribes to one filter and resolves when the SUBACK grants it. */
  async subscribe(filter: string, qos: QoS, timeoutMs: number): Promise<void> {
    const messageId = this.#takeId();
    const suback = this.#await(TYPE_SUBACK, timeoutMs);
    this.#socket.write(encodeSubscribe(messageId, filter, qos));
    const granted = await suback;
    if (granted !== qos) throw new Error(`SUBACK for ${filter} granted ${granted}, asked for QoS ${qos}`);
  }

  /** Writes one PUBLISH; returns false when the socket buffer is full (wait for onDrain). */
  publish(topic: Buffer, payload: Buffer, qos: QoS): boolean {
    const idBytes = qos === 0 ? 0 : 2;
    const remaining = 2 + topic.length + idBytes + payload.length;
    const lengthBytes = remaining < 128 ? 1 : remaining < 16384 ? 2 : remaining < 2097152 ? 3 : 4;
    const packet = Buffer.allocUnsafe(1 + lengthBytes + remaining);
    packet[0] = 0x30 | (qos << 1);
    let offset = writeVarint(packet, 1, remaining);
    offset = packet.writeUInt16BE(topic.length, offset);
    offset += topic.copy(packet, offset);
    if (qos !== 0) {
      offset = packet.writeUInt16BE(this.#takeId(), offset);
      this.#outstanding++;
    }
    payload.copy(packet, offset);
    return this.#socket.write(packet);
  }

  /** Sends a PINGREQ, so the broker's keepalive timer does not close an idle connection. */
  ping(): void {
    if (this.connected) this.#socket.write(PINGREQ);
  }

  /** QoS 1/2 publishes written but not yet completed. */
  get outstanding(): number {
    return this.#outstanding;
  }

  /** Buffers writes until uncork(), so a burst goes out in few syscalls. */
  cork(): void {
    this.#socket.cork();
  }

  /** Flushes writes buffered since cork(). */
  uncork(): void {
    this.#socket.uncork();
  }

  /** Whether the connection is still up. */
  get connected(): boolean {
    return !this.#closing && !this.#socket.destroyed;
  }

  /** Stops reading from the socket for good: the client becomes a stalled subscriber (it acknowledges nothing more). */
  stopReading(): void {
    this.#socket.pause();
  }

  /** Closes the connection abruptly (no DISCONNECT, so nothing waits on the broker). */
  close(): void {
    this.#closing = true;
    this.#socket.destroy();
  }

  #takeId(): number {
    this.#nextId = (this.#nextId % 0xffff) + 1;
    return this.#nextId;
  }

  #await(type: number, timeoutMs: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(type);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for packet type ${type}`));
      }, timeoutMs);
      this.#waiters.set(type, {
        resolve: (code) => {
          clearTimeout(timer);
          resolve(code);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
    });
  }

  #onFrame(header: number, body: Buffer): void {
    switch (header >> 4) {
      case TYPE_PUBLISH:
        this.#onPublish((header >> 1) & 3, body);
        return;
      case TYPE_PUBACK:
      case TYPE_PUBCOMP:
        this.#outstanding--;
        this.#handlers.onComplete?.();
        return;
      case TYPE_PUBREC:
        this.#writeAck(ACK_PUBREL, body.readUInt16BE(0));
        return;
      case TYPE_PUBREL:
        this.#writeAck(ACK_PUBCOMP, body.readUInt16BE(0));
        return;
      case TYPE_CONNACK:
        this.#resolveWaiter(TYPE_CONNACK, body[1] ?? -1);
        return;
      case TYPE_SUBACK:
        this.#resolveWaiter(TYPE_SUBACK, body[2] ?? -1);
        return;
      case TYPE_PINGRESP:
        return;
      default:
        throw new Error(`unexpected packet type ${header >> 4}`);
    }
  }

  #onPublish(qos: number, body: Buffer): void {
    let offset = 2 + body.readUInt16BE(0);
    if (qos > 0) {
      const id = body.readUInt16BE(offset);
      offset += 2;
      this.#writeAck(qos === 1 ? ACK_PUBACK : ACK_PUBREC, id);
    }
    this.#handlers.onMessage?.(body.subarray(offset));
  }

  #resolveWaiter(type: number, code: number): void {
    const waiter = this.#waiters.get(type);
    if (waiter === undefined) return;
    this.#waiters.delete(type);
    waiter.resolve(code);
  }

  #writeAck(type: number, id: number): void {
    const ack = Buffer.allocUnsafe(4);
    ack[0] = type;
    ack[1] = 2;
    ack.writeUInt16BE(id, 2);
    this.#socket.write(ack);
  }

  #lose(reason: string): void {
    if (!this.#closing) {
      this.#closing = true;
      this.#socket.destroy();
      this.#handlers.onLost?.(reason);
    }
    for (const waiter of this.#waiters.values()) waiter.reject(new Error(`connection lost: ${reason}`));
    this.#waiters.clear();
  }
}

/** Writes an MQTT variable-length integer at `offset` and returns the offset after it. */
function writeVarint(buffer: Buffer, offset: number, value: number): number {
  let rest = value;
  let at = offset;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    buffer[at++] = byte;
  } while (rest > 0);
  return at;
}

/** CONNECT for MQTT 3.1.1 without will; the session is clean unless `cleanSession` is false. */
function encodeConnect(options: ClientOptions): Buffer {
  const { clientId, keepalive, cleanSession = true, username, password } = options;
  const fields = [clientId, username, password].flatMap((text) => (text === undefined ? [] : [utf8(text)]));
  let flags = cleanSession ? 0x02 : 0x00;
  if (username !== undefined) flags |= 0x80;
  if (password !== undefined) flags |= 0x40;
  const variable = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags, keepalive >> 8, keepalive & 0xff]);
  return framed(0x10, [variable, ...fields.flat()]);
}

/** A length-prefixed UTF-8 string field. */
function utf8(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  return [u16(bytes.length), bytes];
}

/** SUBSCRIBE for one filter. */
function encodeSubscribe(messageId: number, filter: string, qos: QoS): Buffer {
  const topic = Buffer.from(filter, 'utf8');
  return framed(0x82, [u16(messageId), u16(topic.length), topic, Buffer.from([qos])]);
}

/** A packet from its first byte and body parts. */
function framed(first: number, parts: readonly Buffer[]): Buffer {
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  const header = Buffer.allocUnsafe(5);
  header[0] = first;
  const headerLength = writeVarint(header, 1, length);
  return Buffer.concat([header.subarray(0, headerLength), ...parts]);
}

/** A big-endian 16-bit integer. */
function u16(value: number): Buffer {
  const buffer = Buffer.allocUnsafe(2);
  buffer.writeUInt16BE(value, 0);
  return buffer;
}
