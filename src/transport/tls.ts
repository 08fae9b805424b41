import { readFileOrThrow } from '../read-file.js';
import tls from 'node:tls';
import { BrokerError } from '../errors.js';
import type { PeerCertificate } from '../model.js';
import { bind, type StreamHandler } from './tcp.js';

/** Where the TLS material comes from (PEM files). */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  /** CA that client certificates are verified against; '' asks clients for none. */
  readonly ca: string;
  readonly requireClientCert: boolean;
}

function read(what: string, file: string): Buffer {
  return readFileOrThrow(file, what, 'ERR_TLS_CONFIG', null);
}

/**
 * Reads the certificate, key and CA and checks that they make a usable context (e.g. that the key
 * belongs to the certificate), so a mistake stops the start with a clear ERR_TLS_CONFIG.
 */
export function loadTls(files: TlsFiles, handshakeTimeout: number): tls.TlsOptions {
  const options: tls.TlsOptions = {
    cert: read('certificate', files.cert),
    key: read('key', files.key),
    // With a CA, clients are asked for a certificate; only an mTLS listener refuses those without one
    requestCert: files.ca !== '',
    rejectUnauthorized: files.requireClientCert,
    handshakeTimeout,
  };
  if (files.ca !== '') options.ca = read('CA', files.ca);
  try {
    tls.createSecureContext(options);
  } catch (err) {
    const why = (err as Error).message;
    const hint = /key values mismatch/i.test(why) ? ` (the key ${files.key} does not belong to the certificate ${files.cert})` : '';
    throw new BrokerError('ERR_TLS_CONFIG', `${why}${hint}`, { cause: err });
  }
  return options;
}

/** The verified client certificate of a TLS socket, or undefined (none, or not signed by the CA). */
export function peerCertificateOf(socket: tls.TLSSocket): PeerCertificate | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  const cn = cert.subject?.CN;
  return { commonName: Array.isArray(cn) ? (cn[0] ?? '') : (cn ?? ''), fingerprint256: cert.fingerprint256 };
}

/** Starts a TLS listener; resolves once bound, rejects with ERR_LISTEN. Failed handshakes go to `onClientError`. */
export async function listenTls(
  host: string,
  port: number,
  options: tls.TlsOptions,
  onStream: StreamHandler,
  onError: (err: Error) => void,
  onClientError: (err: Error, socket: { remoteAddress?: string }) => void,
): Promise<tls.Server> {
  const server = tls.createServer(options, (socket) => {
    socket.setNoDelay(true);
    onStream(socket, socket.remoteAddress, peerCertificateOf(socket));
  });
  server.on('tlsClientError', onClientError);
  await bind(server, host, port, 'TLS');
  server.on('error', onError);
  return server;
}
