import http from 'node:http';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { bind, type StreamHandler } from './tcp.js';

/** A running WebSocket listener. */
export interface WsListener {
  readonly http: http.Server;
  readonly wss: WebSocketServer;
}

/**
 * Starts a WebSocket listener on `path` with the `mqtt` subprotocol (also `mqttv3.1`) and hands
 * each connection to the broker as a Duplex stream.
 */
export async function listenWs(
  host: string,
  port: number,
  path: string,
  maxPayload: number,
  onStream: StreamHandler,
  onError: (err: Error) => void,
): Promise<WsListener> {
  const server = http.createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('MQTT over WebSocket: connect with the "mqtt" subprotocol\n');
  });
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
    onStream(stream, req.socket.remoteAddress);
  });
  // The WebSocketServer re-emits its HTTP server's errors; bind() reports those of listen()
  wss.on('error', () => undefined);
  await bind(server, host, port, 'WebSocket');
  wss.removeAllListeners('error');
  wss.on('error', onError);
  server.on('error', onError);
  return { http: server, wss };
}
