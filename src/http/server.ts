import { createReadStream } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Logger } from 'pino';
import { BrokerError } from '../errors.js';
import { packageRoot } from '../package.js';
import { whyNotBound } from '../transport/tcp.js';

/** What the HTTP listener serves, supplied by the broker. */
export interface HttpApp {
  readonly logger: Logger;
  /** Why the broker is not ready (listeners not bound, store not open, shutting down), or undefined when it is. */
  notReady(): string | undefined;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** The status page's data. */
  status(): object;
}

/** Files of the status page, by URL path. */
function staticFiles(): Map<string, { file: string; type: string }> {
  const dir = path.join(packageRoot(), 'status');
  const mqttBundle = createRequire(import.meta.url).resolve('mqtt/dist/mqtt.min');
  return new Map([
    ['/', { file: path.join(dir, 'index.html'), type: 'text/html; charset=utf-8' }],
    ['/status.js', { file: path.join(dir, 'status.js'), type: 'text/javascript; charset=utf-8' }],
    ['/status.css', { file: path.join(dir, 'status.css'), type: 'text/css; charset=utf-8' }],
    ['/mqtt.min.js', { file: mqttBundle, type: 'text/javascript; charset=utf-8' }],
  ]);
}

/** Starts the HTTP listener: /metrics, /healthz, /readyz, /status.json and the status page. */
export async function listenHttp(host: string, port: number, app: HttpApp): Promise<http.Server> {
  const files = staticFiles();
  const server = http.createServer((req, res) => {
    serve(app, files, req, res).catch((err: unknown) => {
      app.logger.error({ err, url: req.url }, 'HTTP request failed');
      if (!res.headersSent) reply(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 50;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new BrokerError('ERR_LISTEN', `HTTP ${host}:${port}: ${whyNotBound(err)}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      server.on('error', (err) => app.logger.error({ err, listener: 'http' }, 'listener error'));
      resolve();
    });
  });
  return server;
}

async function serve(app: HttpApp, files: Map<string, { file: string; type: string }>, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://midge');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    reply(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    return;
  }
  switch (url.pathname) {
    case '/healthz':
      reply(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      return;
    case '/readyz': {
      const why = app.notReady();
      reply(res, why ? 503 : 200, 'text/plain; charset=utf-8', why ? `not ready: ${why}\n` : 'ready\n');
      return;
    }
    case '/metrics': {
      const { contentType, body } = await app.metrics();
      reply(res, 200, contentType, body);
      return;
    }
    case '/status.json':
      reply(res, 200, 'application/json; charset=utf-8', JSON.stringify(app.status()));
      return;
  }
  const asset = files.get(url.pathname === '/index.html' ? '/' : url.pathname);
  if (!asset) {
    reply(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    return;
  }
  res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(asset.file);
  stream.on('error', (err) => {
    app.logger.error({ err, file: asset.file }, 'cannot read a status page file');
    res.destroy();
  });
  stream.pipe(res);
}

function reply(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache' });
  res.end(body);
}

/** Stops the HTTP listener, closing idle keep-alive connections. */
export function closeHttp(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
