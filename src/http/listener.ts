import http from 'node:http';
import { bind } from '../transport/tcp.js';
import type { HttpApp, HttpApplication } from './server.js';

/** The HTTP listener's server, and how to close it. */
export interface HttpListener {
  readonly server: http.Server;
  close(): Promise<void>;
}

/**
 * Binds the HTTP listener at once, so a port in use still stops the start and /healthz answers
 * from the first request, but loads its application (fastify, the admin API's schemas, the
 * dashboard's routes: about 16 MB of an idle broker's RSS) only when the first request arrives.
 * A broker nobody scrapes or browses never pays for it.
 */
export async function listenHttp(host: string, port: number, app: HttpApp): Promise<HttpListener> {
  const server = http.createServer({ requestTimeout: 10_000 });
  server.keepAliveTimeout = 5_000;
  let application: Promise<HttpApplication> | undefined;
  let closing = false;
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (closing) return void res.writeHead(503, { connection: 'close' }).end();
    application ??= import('./server.js').then((m) => m.createHttpApplication(server, app));
    application.then(
      (a) => a.handle(req, res),
      (err: unknown) => {
        application = undefined; // the next request tries again
        app.logger.error({ err, listener: 'http' }, 'cannot start the HTTP application');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('internal error\n');
      },
    );
  });
  await bind(server, host, port, 'HTTP');
  server.on('error', (err) => app.logger.error({ err, listener: 'http' }, 'listener error'));
  return {
    server,
    close: async () => {
      closing = true;
      const loaded = await application?.catch(() => undefined);
      await loaded?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
