/** A raw MQTT connection for crash tests: full control of packet ids, DUP and withheld acknowledgements. */
import net from 'node:net';
import mqttPacket, { type IConnackPacket, type Packet } from 'mqtt-packet';

/**
 * A raw MQTT connection: packets are queued in arrival order (`next()`), or handed to `onPacket`
 * when one is set. Nothing is acknowledged unless the test sends it.
 */
export class Wire {
  readonly socket: net.Socket;
  readonly version: 3 | 4 | 5;
  readonly closed: Promise<void>;
  onPacket: ((packet: Packet) => void) | undefined;
  #queue: Packet[] = [];
  #isClosed = false;
  #wake: (() => void) | undefined;

  private constructor(socket: net.Socket, version: 3 | 4 | 5) {
    this.socket = socket;
    this.version = version;
    const parser = mqttPacket.parser({ protocolVersion: version });
    parser.on('packet', (p: Packet) => {
      if (this.onPacket) this.onPacket(p);
      else this.#queue.push(p);
      this.#notify();
    });
    parser.on('error', (err: Error) => socket.destroy(err));
    socket.on('data', (d: Buffer) => parser.parse(d));
    socket.on('error', () => undefined); // a killed broker resets the connection: seen as 'close'
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#isClosed = true;
        this.#notify();
        resolve();
      }),
    );
  }

  static open(port: number, version: 3 | 4 | 5): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve(new Wire(socket, version));
      });
      socket.once('error', reject);
    });
  }

  /** Hands every packet to `handler` from now on, those already queued first (e.g. right behind CONNACK). */
  listen(handler: (packet: Packet) => void): void {
    this.onPacket = handler;
    for (const packet of this.#queue.splice(0)) handler(packet);
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  send(packet: Packet): void {
    if (!this.#isClosed) this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  /** Sends CONNECT (MQTT 5 unless the wire says otherwise) and returns the CONNACK. */
  async connect(clientId: string, extra: Record<string, unknown> = {}): Promise<IConnackPacket> {
    this.send({
      cmd: 'connect',
      protocolId: this.version === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: this.version,
      clientId,
      clean: true,
      keepalive: 0,
      ...extra,
    } as Packet);
    const connack = await this.next();
    if (connack.cmd !== 'connack') throw new Error(`expected CONNACK, got ${connack.cmd}`);
    const code = (connack as IConnackPacket).reasonCode ?? (connack as IConnackPacket).returnCode ?? 0;
    if (code !== 0) throw new Error(`CONNECT refused with 0x${code.toString(16)}`);
    return connack as IConnackPacket;
  }

  /** The next packet in arrival order; rejects on timeout or when the connection closes first. */
  async next(timeoutMs = 5000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const packet = this.#queue.shift();
      if (packet) return packet;
      if (this.#isClosed) throw new Error('connection closed while waiting for a packet');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet within ${timeoutMs} ms`);
      await this.#waitForPacket(left);
    }
  }

  /** Waits until `count` packets are queued (or `timeoutMs` passes) and takes them all. */
  async take(count: number, timeoutMs = 5000): Promise<Packet[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.length < count && !this.#isClosed && Date.now() < deadline) {
      await this.#waitForPacket(deadline - Date.now());
    }
    return this.#queue.splice(0);
  }

  /** Everything that arrives within `ms` (to assert that nothing, or nothing more, is sent). */
  async drain(ms: number): Promise<Packet[]> {
    await sleep(ms);
    return this.#queue.splice(0);
  }

  /** Subscribes and waits for SUBACK (asserting every filter was granted). */
  async subscribe(messageId: number, subscriptions: { topic: string; qos: 0 | 1 | 2 }[]): Promise<void> {
    this.send({ cmd: 'subscribe', messageId, subscriptions } as Packet);
    const suback = await this.next();
    if (suback.cmd !== 'suback') throw new Error(`expected SUBACK, got ${suback.cmd}`);
    const granted = (suback as { granted: number[] }).granted;
    if (granted.some((g) => g >= 0x80)) throw new Error(`subscription refused: ${JSON.stringify(granted)}`);
  }

  /**
   * Publishes at QoS 1 and waits for its PUBACK. With a durable store, PUBACK follows a commit that
   * includes every write queued before it (commits are in order), so this is a barrier for
   * whatever this connection did earlier.
   */
  async barrier(messageId: number, topic = 'crash-test/barrier'): Promise<void> {
    this.send({ cmd: 'publish', topic, payload: Buffer.from('barrier'), qos: 1, retain: false, dup: false, messageId } as Packet);
    const ack = await this.next();
    if (ack.cmd !== 'puback' || ack.messageId !== messageId) throw new Error(`expected PUBACK ${messageId}, got ${JSON.stringify(ack)}`);
  }

  destroy(): void {
    this.socket.destroy();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #waitForPacket(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, Math.max(0, ms));
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
