import type net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { ResolvedOptions } from '../options.js';
import { HandshakeLog } from './handshake-log.js';
import { listenTls, loadTls } from './tls.js';
import type { StreamHandler } from './tcp.js';
import { listenWs, type WsListener } from './ws.js';

type SecureOptions = Pick<
  ResolvedOptions,
  'host' | 'tlsCert' | 'tlsKey' | 'tlsCa' | 'requireClientCert' | 'tlsPort' | 'wssPort' | 'wsPath' | 'connectTimeout' | 'maxPacketSize' | 'maxConnections'
>;

/**
 * Starts the TLS and WSS listeners when a certificate is configured (ERR_TLS_CONFIG for unreadable
 * or mismatched files, ERR_LISTEN for a busy port). Failed handshakes are logged once per address per minute.
 */
export async function listenSecure(
  options: SecureOptions,
  logger: Logger,
  onStream: (listener: string) => StreamHandler,
  onError: (listener: string) => (err: Error) => void,
): Promise<{ tls: tls.Server | undefined; wss: WsListener | undefined }> {
  const { host, tlsCert, tlsKey, tlsCa, requireClientCert, tlsPort, wssPort, wsPath, connectTimeout } = options;
  if (tlsCert === '' || (tlsPort < 0 && wssPort < 0)) return { tls: undefined, wss: undefined };
  const secure = loadTls({ cert: tlsCert, key: tlsKey, ca: tlsCa, requireClientCert }, connectTimeout);
  const handshakes = new HandshakeLog(logger);
  // A socket reset during the handshake has lost its address by the time the error is reported: kept from accept
  const addresses = new WeakMap<object, string>();
  const remember = (server: net.Server | undefined) => server?.on('connection', (raw: net.Socket) => raw.remoteAddress && addresses.set(raw, raw.remoteAddress));
  const addressOf = (socket: { remoteAddress?: string; _parent?: object }) => socket.remoteAddress ?? (socket._parent && addresses.get(socket._parent));
  // Node reports a client certificate it rejected as a hang-up; the socket still says why
  const causeOf = (err: Error, socket: { authorizationError?: Error | string }) =>
    socket.authorizationError ? Object.assign(new Error(String(socket.authorizationError)), { code: String(socket.authorizationError) }) : err;
  const onClientError = (listener: string) => (err: Error, socket: { remoteAddress?: string; authorizationError?: Error | string }) =>
    handshakes.failed(listener, addressOf(socket), causeOf(err, socket));
  const server = tlsPort >= 0 ? await listenTls(host, tlsPort, secure, onStream('tls'), onError('tls'), onClientError('tls')) : undefined;
  let wss: WsListener | undefined;
  try {
    // A WebSocket message may carry one MQTT packet, or parts of several: a little framing slack
    wss = wssPort >= 0 ? await listenWs(host, wssPort, wsPath, options.maxPacketSize + 1024, onStream('wss'), onError('wss'), secure) : undefined;
  } catch (err) {
    server?.close();
    throw err;
  }
  wss?.http.on('tlsClientError', onClientError('wss'));
  remember(server);
  remember(wss?.http);
  // Sockets still in the TLS handshake are not admitted yet: the listeners bound them too
  if (options.maxConnections > 0) for (const s of [server, wss?.http]) if (s) s.maxConnections = options.maxConnections;
  return { tls: server, wss };
}
