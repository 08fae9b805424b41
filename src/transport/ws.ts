import http from 'node:http';
import https from 'node:https';
import type { TLSSocket, TlsOptions } from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { bind, type StreamHandler } from './tcp.js';
import { peerCertificateOf } from './tls.js';

/** A running WebSocket listener. */
export interface WsListener {
  readonly http: http.Server;
  readonly wss: WebSocketServer;
}

/**
 * Starts a WebSocket listener on `path` with the `mqtt` subprotocol (also `mqttv3.1`) and hands
 * each connection to the broker as a Duplex stream. With `tlsOptions` it is a WSS listener.
 */
export async function listenWs(
  host: string,
  port: number,
  path: string,
  maxPayload: number,
  onStream: StreamHandler,
  onError: (err: Error) => void,
  tlsOptions?: TlsOptions,
): Promise<WsListener> {
  const answer = (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('MQTT over WebSocket: connect with the "mqtt" subprotocol\n');
  };
  const server = tlsOptions ? https.createServer(tlsOptions, answer) : http.createServer(answer);
  const wss = new WebSocketServer({
    server,
    path,
    maxPayload,
    handleProtocols: (protocols) => {
      for (const p of ['mqtt', 'mqttv3.1']) if (protocols.has(p)) return p;
      return false;
    },
  });
  wss.on('connection', (ws, req) => {
    const stream = createWebSocketStream(ws);
    // A stream ended after the peer vanished waits for a 'finish' that never comes: end it with the socket
    ws.once('close', () => stream.destroy());
    const certificate = tlsOptions ? peerCertificateOf(req.socket as TLSSocket) : undefined;
    onStream(stream, req.socket.remoteAddress, certificate);
  });
  // The WebSocketServer re-emits its HTTP server's errors; bind() reports those of listen()
  wss.on('error', () => undefined);
  await bind(server, host, port, tlsOptions ? 'WSS' : 'WebSocket');
  wss.removeAllListeners('error');
  wss.on('error', onError);
  server.on('error', onError);
  return { http: server, wss };
}
