/**
 * A raw MQTT connection over TCP, speaking mqtt-packet frames (or any bytes): full control of
 * packet ids, flags, DUP and withheld acknowledgements, for wire, crash and integration tests.
 * Nothing is acknowledged unless the test sends it.
 */
import net from 'node:net';
import mqttPacket, { type IConnackPacket, type Packet } from 'mqtt-packet';

/**
 * One raw MQTT connection. Packets are kept in arrival order in `packets` (consumed by `next()`,
 * `take()` and `drain()`) and in `received` (never consumed), or handed to `onPacket` when one is set.
 */
export class Wire {
  readonly socket: net.Socket;
  /** Protocol level the replies are parsed as (3, 4 or 5). */
  readonly version: number;
  /** Packets received and not yet consumed, in arrival order. */
  readonly packets: Packet[] = [];
  /** Every packet received, in arrival order (including those given to `onPacket`). */
  readonly received: Packet[] = [];
  /** Resolves when the connection is closed, by either side. */
  readonly closed: Promise<void>;
  /** When set, packets go to this handler instead of `packets`. */
  onPacket: ((packet: Packet) => void) | undefined;
  #isClosed = false;
  #waiters: (() => void)[] = [];

  private constructor(socket: net.Socket, version: number) {
    this.socket = socket;
    this.version = version;
    const parser = mqttPacket.parser({ protocolVersion: version });
    parser.on('packet', (p: Packet) => {
      this.received.push(p);
      if (this.onPacket) this.onPacket(p);
      else this.packets.push(p);
      this.#wake();
    });
    parser.on('error', (err: Error) => socket.destroy(err));
    socket.on('data', (d: Buffer) => parser.parse(d));
    socket.on('error', () => undefined); // a reset (e.g. a killed broker) is seen as 'close'
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#isClosed = true;
        this.#wake();
        resolve();
      }),
    );
  }

  /** Opens a TCP connection to the broker on 127.0.0.1; replies are parsed as protocol level `version`. */
  static open(port: number, version = 4): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve(new Wire(socket, version));
      });
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Sends a packet encoded by mqtt-packet (nothing once the connection is closed). */
  send(packet: Packet): void {
    if (!this.#isClosed) this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  /** Sends raw bytes. */
  write(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  }

  /** Sends CONNECT (a random client id unless `extra` sets one) and returns the CONNACK, whatever its code. */
  async handshake(extra: Record<string, unknown> = {}): Promise<Packet> {
    this.send({ ...this.#connectPacket(`raw-${Math.random().toString(16).slice(2)}`), ...extra });
    return this.next('connack');
  }

  /** Sends CONNECT and returns the CONNACK, which must be the next packet and must accept the client. */
  async connect(clientId: string, extra: Record<string, unknown> = {}): Promise<IConnackPacket> {
    this.send({ ...this.#connectPacket(clientId), ...extra });
    const connack = await this.#nextInOrder();
    if (connack.cmd !== 'connack') throw new Error(`expected CONNACK, got ${connack.cmd}`);
    const code = (connack as IConnackPacket).reasonCode ?? (connack as IConnackPacket).returnCode ?? 0;
    if (code !== 0) throw new Error(`CONNECT refused with 0x${code.toString(16)}`);
    return connack as IConnackPacket;
  }

  /**
   * Takes the first packet not yet consumed: the first one of `cmd` if given (skipping others,
   * which stay), else the next in arrival order. Rejects on timeout or when the connection closes first.
   */
  async next(cmd?: string, timeoutMs = 3000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    const what = cmd ?? 'a packet';
    for (;;) {
      const index = cmd === undefined ? (this.packets.length > 0 ? 0 : -1) : this.packets.findIndex((p) => p.cmd === cmd);
      if (index >= 0) return this.packets.splice(index, 1)[0] as Packet;
      if (this.#isClosed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what} (${timeoutMs} ms)`);
      await this.#waitForPacket(left);
    }
  }

  /** Waits until `count` packets are unconsumed (or `timeoutMs` passes, or the connection closes) and takes them all. */
  async take(count: number, timeoutMs = 5000): Promise<Packet[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.packets.length < count && !this.#isClosed && Date.now() < deadline) {
      await this.#waitForPacket(deadline - Date.now());
    }
    return this.packets.splice(0);
  }

  /** Everything that arrives within `ms` (to assert that nothing, or nothing more, is sent). */
  async drain(ms: number): Promise<Packet[]> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.packets.splice(0);
  }

  /** Hands every packet to `handler` from now on, those not yet consumed first (e.g. right behind CONNACK). */
  listen(handler: (packet: Packet) => void): void {
    this.onPacket = handler;
    for (const packet of this.packets.splice(0)) handler(packet);
  }

  /** Subscribes and waits for the SUBACK, which must be the next packet and grant every filter. */
  async subscribe(messageId: number, subscriptions: { topic: string; qos: 0 | 1 | 2 }[]): Promise<void> {
    this.send({ cmd: 'subscribe', messageId, subscriptions } as Packet);
    const suback = await this.#nextInOrder();
    if (suback.cmd !== 'suback') throw new Error(`expected SUBACK, got ${suback.cmd}`);
    const granted = (suback as { granted: number[] }).granted;
    if (granted.some((g) => g >= 0x80)) throw new Error(`subscription refused: ${JSON.stringify(granted)}`);
  }

  /**
   * Publishes at QoS 1 and waits for its PUBACK, which must be the next packet. With a durable
   * store, PUBACK follows a commit that includes every write queued before it (commits are in
   * order), so this is a barrier for whatever this connection did earlier.
   */
  async barrier(messageId: number, topic = 'crash-test/barrier'): Promise<void> {
    this.send({ cmd: 'publish', topic, payload: Buffer.from('barrier'), qos: 1, retain: false, dup: false, messageId } as Packet);
    const ack = await this.#nextInOrder();
    if (ack.cmd !== 'puback' || ack.messageId !== messageId) throw new Error(`expected PUBACK ${messageId}, got ${JSON.stringify(ack)}`);
  }

  /** Resolves when the connection is closed; rejects after `timeoutMs`. */
  waitClosed(timeoutMs = 3000): Promise<void> {
    return Promise.race([
      this.closed,
      new Promise<void>((_, reject) => setTimeout(() => reject(new Error('connection still open')), timeoutMs).unref()),
    ]);
  }

  /** Destroys the socket (no DISCONNECT: to the broker, a lost connection). */
  close(): void {
    this.socket.destroy();
  }

  #connectPacket(clientId: string): Packet {
    return { cmd: 'connect', protocolId: this.version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: this.version, clientId, clean: true, keepalive: 0 } as Packet;
  }

  #nextInOrder(): Promise<Packet> {
    return this.next(undefined, 5000);
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  #waitForPacket(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, ms));
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
