import net from 'node:net';
import type { Duplex } from 'node:stream';
import { BrokerError } from '../errors.js';
import type { PeerCertificate } from '../model.js';

/** Hands each accepted stream to the broker (with the verified client certificate of a TLS listener). */
export type StreamHandler = (stream: Duplex, remoteAddress: string | undefined, certificate?: PeerCertificate) => void;

/** Starts a TCP listener; resolves once bound, rejects with ERR_LISTEN (e.g. port in use). */
export async function listenTcp(host: string, port: number, onStream: StreamHandler, onError: (err: Error) => void): Promise<net.Server> {
  const server = net.createServer({ noDelay: true }, (socket) => {
    onStream(socket, socket.remoteAddress);
  });
  await bind(server, host, port, 'TCP');
  server.on('error', onError); // e.g. EMFILE on accept: logged, the listener stays up
  return server;
}

/** Why a listener could not bind, in the same words for every listener (MQTT, TLS, WebSocket, HTTP). */
export function whyNotBound(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'address already in use';
    case 'EACCES':
      return 'permission denied';
    case 'EADDRNOTAVAIL':
      return 'address not available on this machine';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host';
    default:
      return err.message;
  }
}

/** Binds a server and converts a bind failure into a clear ERR_LISTEN. */
export function bind<S extends net.Server>(server: S, host: string, port: number, what: string): Promise<S> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new BrokerError('ERR_LISTEN', `${what} ${host}:${port}: ${whyNotBound(err)}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}
