import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
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
  /** Closes every client and the broker. */
  close(): Promise<void>;
}

/** Starts a broker on port 0 (TCP and WebSocket) bound to 127.0.0.1. */
export async function startBroker(options: BrokerOptions = {}): Promise<TestBroker> {
  const broker = createBroker({ host: '127.0.0.1', port: 0, wsPort: 0, logLevel: 'silent', ...options });
  const addresses = await broker.listen();
  const port = addresses.tcp?.port ?? -1;
  const wsPort = addresses.ws?.port ?? -1;
  const clients: MqttClient[] = [];
  return {
    broker,
    port,
    wsPort,
    url: `mqtt://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${wsPort}/mqtt`,
    async client(opts = {}) {
      const { ws, ...rest } = opts;
      const url = ws ? `ws://127.0.0.1:${wsPort}/mqtt` : `mqtt://127.0.0.1:${port}`;
      const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...rest });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      await broker.close();
    },
  };
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
