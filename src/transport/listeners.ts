import type net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { ResolvedOptions } from '../options.js';
import { listenSecure } from './secure.js';
import { listenTcp, type StreamHandler } from './tcp.js';
import { listenWs, type WsListener } from './ws.js';

/** Where the MQTT listeners are bound (undefined when off). */
export interface MqttAddresses {
  readonly tcp: { host: string; port: number } | undefined;
  readonly ws: { host: string; port: number; path: string } | undefined;
  readonly tls: { host: string; port: number } | undefined;
  readonly wss: { host: string; port: number; path: string } | undefined;
}

/** The MQTT listeners (TCP, WebSocket, TLS, secure WebSocket): each hands its streams to the broker. */
export class MqttListeners {
  readonly #options: ResolvedOptions;
  readonly #logger: Logger;
  #tcp: net.Server | undefined;
  #ws: WsListener | undefined;
  #tls: tls.Server | undefined;
  #wss: WsListener | undefined;

  constructor(options: ResolvedOptions, logger: Logger) {
    this.#options = options;
    this.#logger = logger;
  }

  /** Binds every configured listener not bound yet; rejects with ERR_LISTEN (the caller closes what was bound). */
  async start(onStream: (listener: string) => StreamHandler): Promise<void> {
    const { host, port, wsPort, wsPath, maxPacketSize } = this.#options;
    const onError = (listener: string) => (err: Error) => this.#logger.error({ err, listener }, 'listener error');
    if (port >= 0 && !this.#tcp) this.#tcp = await listenTcp(host, port, onStream('tcp'), onError('tcp'));
    if (wsPort >= 0 && !this.#ws) {
      // A WebSocket message may carry one MQTT packet, or parts of several: allow a little framing slack
      this.#ws = await listenWs(host, wsPort, wsPath, maxPacketSize + 1024, onStream('ws'), onError('ws'));
    }
    if (!this.#tls && !this.#wss) ({ tls: this.#tls, wss: this.#wss } = await listenSecure(this.#options, this.#logger, onStream, onError));
  }

  addresses(): MqttAddresses {
    const path = this.#options.wsPath;
    return {
      tcp: addressOf(this.#tcp),
      ws: withPath(addressOf(this.#ws?.http), path),
      tls: addressOf(this.#tls),
      wss: withPath(addressOf(this.#wss?.http), path),
    };
  }

  /** Stops accepting; resolves once every server has closed (open connections are the broker's to end). */
  close(): Promise<void> {
    const servers: Promise<void>[] = [];
    if (this.#tcp) servers.push(closeServer(this.#tcp));
    for (const ws of [this.#ws, this.#wss]) {
      if (!ws) continue;
      ws.wss.close();
      servers.push(closeServer(ws.http));
    }
    if (this.#tls) servers.push(closeServer(this.#tls));
    return Promise.all(servers).then(() => undefined);
  }
}

function addressOf(server: net.Server | undefined): { host: string; port: number } | undefined {
  const a = server?.address();
  return a && typeof a === 'object' ? { host: a.address, port: a.port } : undefined;
}

function withPath(a: { host: string; port: number } | undefined, path: string): { host: string; port: number; path: string } | undefined {
  return a && { ...a, path };
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
