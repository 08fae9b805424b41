import net from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

/** A raw MQTT client speaking mqtt-packet frames over TCP, for edge cases and malformed input. */
export class RawClient {
  readonly socket: net.Socket;
  readonly packets: Packet[] = [];
  /** Every packet received, in arrival order (`next()` consumes from `packets`, not from here). */
  readonly received: Packet[] = [];
  readonly #version: number;
  #closed = false;
  readonly #closedPromise: Promise<void>;
  #waiters: (() => void)[] = [];

  private constructor(socket: net.Socket, version: number) {
    this.socket = socket;
    this.#version = version;
    const parser = mqttPacket.parser({ protocolVersion: version });
    parser.on('packet', (p: Packet) => {
      this.packets.push(p);
      this.received.push(p);
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', () => undefined);
    this.#closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.#closed = true;
        for (const w of this.#waiters.splice(0)) w();
        resolve();
      }),
    );
  }

  /** Opens a TCP connection to the broker. */
  static connect(port: number, version = 4): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new RawClient(socket, version)));
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a packet encoded by mqtt-packet. */
  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.#version }));
  }

  /** Sends raw bytes. */
  write(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  }

  /** Sends CONNECT and waits for CONNACK. */
  async handshake(extra: Record<string, unknown> = {}): Promise<Packet> {
    const protocolId = this.#version === 3 ? 'MQIsdp' : 'MQTT';
    this.send({ cmd: 'connect', protocolId, protocolVersion: this.#version, clientId: `raw-${Math.random().toString(16).slice(2)}`, clean: true, keepalive: 0, ...extra } as Packet);
    return this.next('connack');
  }

  /** Waits for the next packet of `cmd` not yet consumed. */
  async next(cmd: string, timeoutMs = 3000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.packets.findIndex((p) => p.cmd === cmd);
      if (index >= 0) return this.packets.splice(index, 1)[0] as Packet;
      if (this.#closed) throw new Error(`connection closed while waiting for ${cmd}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${cmd}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves when the broker closes the connection; rejects after `timeoutMs`. */
  waitClosed(timeoutMs = 3000): Promise<void> {
    return Promise.race([
      this.#closedPromise,
      new Promise<void>((_, reject) => setTimeout(() => reject(new Error('connection still open')), timeoutMs).unref()),
    ]);
  }

  close(): void {
    this.socket.destroy();
  }
}
