import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { WebSocket } from 'ws';

/** How a TLS connection checks the broker's certificate. */
export interface TlsSettings {
  /** Trusted CA certificates (PEM); the system's when absent. */
  ca?: Buffer;
  /** false accepts any certificate (--insecure). */
  rejectUnauthorized: boolean;
}

/**
 * Where the load generator connects: MQTT over TCP, or MQTT over WebSocket at `url`; either over
 * TLS when `tls` is set (mqtts://, wss://).
 */
export type Endpoint =
  | { kind: 'tcp'; host: string; port: number; tls?: TlsSettings }
  | { kind: 'ws'; host: string; port: number; url: string; tls?: TlsSettings };

/** Default ports of the URL schemes `midge bench` accepts. */
const DEFAULT_PORTS: Readonly<Record<string, number>> = {
  'mqtt:': 1883, 'tcp:': 1883, 'mqtts:': 8883, 'ws:': 80, 'wss:': 443,
};

/**
 * Parses `mqtt[s]://host[:port]`, `tcp://host[:port]` or `ws[s]://host[:port][/path]`; throws a
 * one-line message otherwise. TLS URLs verify the certificate against the system's CAs.
 */
export function parseEndpoint(text: string): Endpoint {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`--url: "${text}" is not a URL (e.g. mqtt://127.0.0.1:1883 or ws://127.0.0.1:8083/mqtt)`);
  }
  const defaultPort = DEFAULT_PORTS[url.protocol];
  if (defaultPort === undefined) {
    throw new Error(`--url: scheme "${url.protocol}" is not supported (use mqtt://, mqtts://, tcp://, ws:// or wss://)`);
  }
  if (url.hostname === '') throw new Error(`--url: "${text}" has no host`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? defaultPort : Number(url.port);
  const secure = url.protocol === 'mqtts:' || url.protocol === 'wss:' ? { tls: { rejectUnauthorized: true } } : {};
  if (url.protocol === 'ws:' || url.protocol === 'wss:') return { kind: 'ws', host, port, url: url.href, ...secure };
  return { kind: 'tcp', host, port, ...secure };
}

/** The endpoint as a URL, for reports. */
export function endpointUrl(endpoint: Endpoint): string {
  if (endpoint.kind === 'ws') return endpoint.url;
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `${endpoint.tls === undefined ? 'mqtt' : 'mqtts'}://${host}:${endpoint.port}`;
}

/** Opens a byte stream to the broker; rejects when it is not open within `timeoutMs`. */
export function openStream(endpoint: Endpoint, timeoutMs: number): Promise<Duplex> {
  return endpoint.kind === 'tcp' ? openTcp(endpoint, timeoutMs) : openWs(endpoint.url, endpoint.tls, timeoutMs);
}

/** The socket of a TCP connection (TLS over it for mqtts), with Nagle off. */
function connectSocket(host: string, port: number, settings: TlsSettings | undefined): net.Socket {
  if (settings === undefined) return net.connect({ host, port, noDelay: true });
  const servername = net.isIP(host) === 0 ? host : undefined;
  const socket = tls.connect({ host, port, servername, ca: settings.ca, rejectUnauthorized: settings.rejectUnauthorized });
  socket.setNoDelay(true);
  return socket;
}

/** A TCP (or TLS) connection, resolved once connected (after the TLS handshake). */
function openTcp(endpoint: Extract<Endpoint, { kind: 'tcp' }>, timeoutMs: number): Promise<Duplex> {
  const { host, port } = endpoint;
  return new Promise((resolve, reject) => {
    const socket = connectSocket(host, port, endpoint.tls);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    const timer = setTimeout(() => {
      socket.destroy();
      fail(new Error(`TCP connect to ${host}:${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', fail);
    socket.once(endpoint.tls === undefined ? 'connect' : 'secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

/** A WebSocket with the `mqtt` subprotocol, resolved once open. */
function openWs(url: string, settings: TlsSettings | undefined, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'mqtt', { handshakeTimeout: timeoutMs, perMessageDeflate: false, ...settings });
    const fail = (err: Error): void => reject(err);
    ws.once('error', fail);
    ws.once('open', () => {
      ws.off('error', fail);
      resolve(new WebSocketDuplex(ws));
    });
  });
}

/**
 * An open WebSocket as a byte stream. Unlike ws's createWebSocketStream, writes buffered by
 * cork() go out as one WebSocket message (`_writev`), so a corked burst of MQTT packets costs one
 * frame rather than one frame per packet; MQTT over WebSocket lets packets span and share frames.
 */
class WebSocketDuplex extends Duplex {
  readonly #ws: WebSocket;

  constructor(ws: WebSocket) {
    super();
    this.#ws = ws;
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      this.push(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer));
    });
    ws.on('close', () => {
      this.push(null);
      this.destroy();
    });
    ws.on('error', (err) => this.destroy(err));
  }

  override _read(): void {
    // Messages are pushed as they arrive; pause() stops them at the socket.
  }

  /** Stops reading the TCP socket under the WebSocket too (a stalled subscriber: the broker's writes back up). */
  override pause(): this {
    this.#ws.pause();
    return super.pause();
  }

  override resume(): this {
    this.#ws.resume();
    return super.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#ws.send(chunk, { binary: true }, callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    this.#ws.send(Buffer.concat(chunks.map((c) => c.chunk)), { binary: true }, callback);
  }

  override _destroy(err: Error | null, callback: (err: Error | null) => void): void {
    this.#ws.terminate();
    callback(err);
  }
}
