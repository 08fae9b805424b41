import { once, type EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type IConnackPacket, type IDisconnectPacket, type MqttClient } from 'mqtt';
import { createBroker, type Broker, type BrokerOptions } from '../../src/index.js';

/** A broker started on free loopback ports, plus everything a test opened against it. */
export interface TestBroker {
  readonly broker: Broker;
  readonly port: number;
  readonly wsPort: number;
  readonly url: string;
  readonly wsUrl: string;
  /** Connects an mqtt.js client over TCP (or WebSocket with `ws: true`); closed by `close()`. */
  client(options?: IClientOptions & { ws?: boolean }): Promise<MqttClient>;
  /**
   * Creates a client without waiting for CONNACK, so that listeners are in place before the first
   * packet after CONNACK arrives (queued messages on resume); await `connected(client)`. Closed by `close()`.
   */
  open(options?: IClientOptions & { ws?: boolean }): MqttClient;
  /** Closes every client and the broker. */
  close(): Promise<void>;
}

/** Starts a broker on port 0 (TCP and WebSocket) bound to 127.0.0.1; no HTTP listener and no $SYS unless asked. */
export async function startBroker(options: BrokerOptions = {}): Promise<TestBroker> {
  const defaults: BrokerOptions = { host: '127.0.0.1', port: 0, wsPort: 0, httpPort: -1, sysInterval: 0, logLevel: 'silent', store: 'memory' };
  const broker = createBroker({ ...defaults, ...options });
  const addresses = await broker.listen();
  const port = addresses.tcp?.port ?? -1;
  const wsPort = addresses.ws?.port ?? -1;
  const clients: MqttClient[] = [];
  const urlFor = (ws: boolean | undefined) => (ws ? `ws://127.0.0.1:${wsPort}/mqtt` : `mqtt://127.0.0.1:${port}`);
  return {
    broker,
    port,
    wsPort,
    url: `mqtt://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${wsPort}/mqtt`,
    async client(opts = {}) {
      const { ws, ...rest } = opts;
      const c = await mqtt.connectAsync(urlFor(ws), { reconnectPeriod: 0, connectTimeout: 5000, ...rest });
      clients.push(c);
      return c;
    },
    open(opts = {}) {
      const { ws, ...rest } = opts;
      const c = mqtt.connect(urlFor(ws), { reconnectPeriod: 0, connectTimeout: 5000, ...rest });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      await broker.close();
    },
  };
}

/** The CONNACK a connected mqtt.js client received (mqtt.js keeps it in a private field). */
export function connackOf(client: MqttClient): IConnackPacket {
  const connack = (client as unknown as { connackPacket?: IConnackPacket }).connackPacket;
  if (!connack) throw new Error('the client has not received a CONNACK');
  return connack;
}

/** Resolves with the DISCONNECT the broker sends to an MQTT 5 client; rejects after `timeoutMs`. */
export async function nextDisconnect(client: MqttClient, timeoutMs = 5000): Promise<IDisconnectPacket> {
  const [packet] = await once(client as unknown as EventEmitter, 'disconnect', { signal: AbortSignal.timeout(timeoutMs) });
  return packet as IDisconnectPacket;
}

/** Resolves when the client's connection has closed; rejects after `timeoutMs`. */
export async function closed(client: MqttClient, timeoutMs = 5000): Promise<void> {
  await once(client as unknown as EventEmitter, 'close', { signal: AbortSignal.timeout(timeoutMs) });
}

/** Resolves with the CONNACK of a client made by `open()`; rejects with its error (e.g. a refused CONNACK). */
export function connected(client: MqttClient, timeoutMs = 5000): Promise<IConnackPacket> {
  if (client.connected) return Promise.resolve(connackOf(client));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error('no CONNACK in time')), timeoutMs);
    const onConnect = (connack: IConnackPacket) => done(undefined, connack);
    const onError = (err: Error) => done(err);
    const onClose = () => done(new Error('connection closed before CONNACK'));
    function done(err: Error | undefined, connack?: IConnackPacket): void {
      clearTimeout(timer);
      client.off('connect', onConnect).off('error', onError).off('close', onClose);
      if (err) reject(err);
      else resolve(connack as IConnackPacket);
    }
    client.on('connect', onConnect).on('error', onError).on('close', onClose);
  });
}

/** Polls `condition` every 10 ms until it holds; rejects with `what` after `timeoutMs`. */
export async function until(condition: () => boolean, what = 'condition', timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Collects messages received by a client, with a way to wait for a count. */
export function collect(client: MqttClient): {
  messages: { topic: string; payload: string; packet: mqtt.IPublishPacket }[];
  waitFor(count: number, timeoutMs?: number): Promise<void>;
} {
  const messages: { topic: string; payload: string; packet: mqtt.IPublishPacket }[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, payload: payload.toString(), packet });
    for (const w of [...waiters]) {
      if (messages.length >= w.count) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  return {
    messages,
    waitFor(count, timeoutMs = 5000) {
      if (messages.length >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`expected ${count} messages, got ${messages.length}`)), timeoutMs);
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
  };
}

/** Waits `ms` milliseconds. Used only to let the broker settle when asserting that nothing arrives. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Publishes at QoS 1 or 2 and resolves with the reason code of the PUBACK / PUBREC (0 when it has none). */
export function ackCode(client: MqttClient, topic: string, payload: string, qos: 1 | 2): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no acknowledgement for ${topic}`)), 5000);
    const onPacket = (p: mqtt.Packet) => {
      if (p.cmd === (qos === 1 ? 'puback' : 'pubrec')) done(undefined, (p as { reasonCode?: number }).reasonCode ?? 0);
    };
    function done(err: Error | undefined, code?: number): void {
      clearTimeout(timer);
      client.off('packetreceive', onPacket);
      if (err) reject(err);
      else resolve(code as number);
    }
    client.on('packetreceive', onPacket);
    client.publish(topic, payload, { qos }, () => undefined);
  });
}

/** Subscribes and resolves with the SUBACK's codes, failures included (mqtt.js rejects on those). */
export function subackCodes(client: MqttClient, filters: Record<string, { qos: 0 | 1 | 2 }>): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error('no SUBACK')), 5000);
    const onPacket = (p: mqtt.Packet) => {
      if (p.cmd === 'suback') done(undefined, (p as { granted: number[] }).granted);
    };
    function done(err: Error | undefined, codes?: number[]): void {
      clearTimeout(timer);
      client.off('packetreceive', onPacket);
      if (err) reject(err);
      else resolve(codes as number[]);
    }
    client.on('packetreceive', onPacket);
    client.subscribe(filters, () => undefined);
  });
}
