import { createReadStream } from 'node:fs';
import type http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Principal } from '../auth/admin-credentials.js';
import { isBrokerError } from '../errors.js';
import { packageRoot } from '../package.js';
import { Access, type AccessLevel } from './access.js';
import { API_ROUTES, type ApiContext } from './api.js';
import { openApiDocument } from './openapi.js';
import { packageVersion } from '../package.js';

/** What the HTTP listener serves, supplied by the broker (src/metrics/operations.ts). */
export interface HttpApp extends Omit<ApiContext, 'login' | 'logout' | 'limited' | 'readOnly'> {
  readonly logger: Logger;
  /** Why the broker is not ready (listeners not bound, store not open, shutting down), or undefined when it is. */
  notReady(): string | undefined;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Who may do what (tokens and users from the data directory). */
  readonly access: Access;
  /** Largest request body accepted, in bytes (a publish carries a payload, base64 or text). */
  readonly bodyLimit: number;
}

const TEXT = 'text/plain; charset=utf-8';
const JS = 'text/javascript; charset=utf-8';
/**
 * The dashboard loads nothing from elsewhere and is never framed. uPlot sets inline styles, and
 * the live view connects to Midge's WebSocket listener, on its own port; MQTT.js runs its timers in a blob: worker.
 */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

/** Files of the dashboard, by URL path: the page, its script and style, and the two libraries it loads. */
function staticFiles(): Map<string, { file: string; type: string }> {
  const dir = path.join(packageRoot(), 'status');
  const require = createRequire(import.meta.url);
  const uplot = path.dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  return new Map([
    ['/', { file: path.join(dir, 'index.html'), type: 'text/html; charset=utf-8' }],
    ['/index.html', { file: path.join(dir, 'index.html'), type: 'text/html; charset=utf-8' }],
    ['/status.js', { file: path.join(dir, 'status.js'), type: JS }],
    ['/status.css', { file: path.join(dir, 'status.css'), type: 'text/css; charset=utf-8' }],
    ['/panels.js', { file: path.join(dir, 'panels.js'), type: JS }],
    ['/mqtt.min.js', { file: require.resolve('mqtt/dist/mqtt.min'), type: JS }],
    ['/uPlot.iife.min.js', { file: path.join(uplot, 'uPlot.iife.min.js'), type: JS }],
    ['/uPlot.min.css', { file: path.join(uplot, 'uPlot.min.css'), type: 'text/css; charset=utf-8' }],
  ]);
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

/** The HTTP application on a server bound elsewhere (src/http/listener.ts): what handles its requests, and how to stop it. */
export interface HttpApplication {
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
  /** Stops routing (requests still arriving get 503); the server itself is closed by its owner. */
  close(): Promise<void>;
}

/** Builds the application of the HTTP listener: /healthz, /readyz, /metrics, /status.json, the dashboard and the admin API under /api/v1. */
export async function createHttpApplication(server: http.Server, app: HttpApp): Promise<HttpApplication> {
  let handle: HttpApplication['handle'] | undefined;
  const fastify = Fastify({
    // The server is bound before fastify is loaded; fastify routes its requests
    serverFactory: (handler) => {
      handle = handler;
      return server;
    },
    bodyLimit: app.bodyLimit,
    routerOptions: { maxParamLength: 8192 },
    return503OnClosing: true,
    // A malformed URL or an overlong parameter gets the API's error shape, without echoing the URL
    frameworkErrors: (err, _req, reply) => {
      const answer = reply as unknown as FastifyReply;
      void answer.code(400).header('cache-control', 'no-store').send({ error: 'bad-request', message: err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path parameter is too long' : 'malformed URL' });
    },
    // Unknown query or body fields are refused, not silently dropped
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: true } },
  });
  fastify.decorateRequest('principal', undefined);
  fastify.setErrorHandler((err: FastifyError, req, reply) => replyError(app, err, req, reply));
  fastify.setNotFoundHandler((_req, reply) => reply.code(404).type(TEXT).send('not found\n'));
  const methods = new Map<string, Set<string>>();
  const add = (method: 'GET' | 'POST' | 'DELETE', url: string) => (methods.get(url) ?? methods.set(url, new Set()).get(url))?.add(method);
  registerOperations(fastify, app, add);
  registerApi(fastify, app, add);
  // Other methods on a known path: 405 with the allowed ones
  for (const [url, allowed] of methods) {
    if (allowed.has('GET')) allowed.add('HEAD');
    const others = METHODS.filter((m) => !allowed.has(m));
    const allow = [...allowed].join(', ');
    fastify.route({ method: others, url, handler: (_req, reply) => reply.code(405).header('allow', allow).type(TEXT).send('method not allowed\n') });
  }
  await fastify.ready();
  if (!handle) throw new Error('fastify did not call its serverFactory');
  return { handle, close: () => fastify.close() };
}

/** A preHandler that lets the request through only with the access `level` requires. */
function guard(app: HttpApp, level: AccessLevel) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const result = await app.access.check(level, req.headers.authorization, req.socket.remoteAddress);
    if (result !== undefined && 'status' in result) {
      if (result.status === 401) reply.header('www-authenticate', 'Bearer realm="midge"');
      await reply.code(result.status).header('cache-control', 'no-store').send({ error: result.error, message: result.message });
      return;
    }
    req.principal = result;
  };
}

function registerOperations(fastify: FastifyInstance, app: HttpApp, add: (method: 'GET', url: string) => void): void {
  const noCache = (reply: FastifyReply) => reply.header('cache-control', 'no-cache');
  fastify.get('/healthz', (_req, reply) => noCache(reply).type(TEXT).send('ok\n'));
  fastify.get('/readyz', (_req, reply) => {
    const why = app.notReady();
    return noCache(reply).code(why ? 503 : 200).type(TEXT).send(why ? `not ready: ${why}\n` : 'ready\n');
  });
  fastify.get('/metrics', { preHandler: guard(app, 'metrics') }, async (_req, reply) => {
    const { contentType, body } = await app.metrics();
    return noCache(reply).type(contentType).send(body);
  });
  fastify.get('/status.json', { preHandler: guard(app, 'read') }, (_req, reply) => noCache(reply).type('application/json; charset=utf-8').send(JSON.stringify(app.status())));
  for (const url of ['/healthz', '/readyz', '/metrics', '/status.json']) add('GET', url);
  for (const [url, asset] of staticFiles()) {
    add('GET', url);
    fastify.get(url, (_req, reply) => {
      const stream = createReadStream(asset.file);
      stream.on('error', (err) => app.logger.error({ err, file: asset.file }, 'cannot read a dashboard file'));
      return noCache(reply).headers(PAGE_HEADERS).type(asset.type).send(stream);
    });
  }
}

function registerApi(fastify: FastifyInstance, app: HttpApp, add: (method: 'GET' | 'POST' | 'DELETE', url: string) => void): void {
  const { access } = app;
  const api: ApiContext = {
    ...app,
    login: (username, password, address) => access.login(username, password, address),
    logout: (authorization) => access.logout(authorization),
    limited: (address) => access.limited(address),
    get readOnly() {
      return access.readOnly;
    },
  };
  const document = JSON.stringify(openApiDocument(packageVersion()));
  add('GET', '/api/v1/openapi.json');
  fastify.get('/api/v1/openapi.json', (_req, reply) => reply.header('cache-control', 'no-cache').type('application/json; charset=utf-8').send(document));
  for (const route of API_ROUTES) {
    const url = `/api/v1${route.path}`;
    add(route.method, url);
    fastify.route({
      method: route.method,
      url,
      schema: route.schema,
      preHandler: guard(app, route.access),
      handler: async (req, reply) => {
        const result = await route.handle(api, {
          params: req.params as Record<string, string>,
          query: req.query as Record<string, unknown>,
          body: req.body,
          principal: req.principal,
          authorization: req.headers.authorization,
          address: req.socket.remoteAddress,
        });
        reply.code(result.status).header('cache-control', 'no-store');
        return result.body === undefined ? reply.send() : reply.send(result.body);
      },
    });
  }
}

/** The one place errors become HTTP answers: validation 400, a broker refusal 400/422/503, anything else 500 (logged). */
function replyError(app: HttpApp, err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const send = (status: number, error: string, message: string) => reply.code(status).header('cache-control', 'no-store').send({ error, message });
  if (err.validation) return send(400, 'bad-request', err.message);
  if (isBrokerError(err)) {
    if (err.code === 'ERR_SECURITY_FILE') return send(422, 'security-file', err.message);
    if (err.code === 'ERR_NOT_STARTED') return send(503, 'not-ready', err.message);
    if (['ERR_TOPIC_NAME_INVALID', 'ERR_INVALID_MESSAGE', 'ERR_TOPIC_LIMIT', 'ERR_PACKET_TOO_LARGE'].includes(err.code)) return send(400, 'bad-request', err.message);
  } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return send(err.statusCode, 'bad-request', err.message);
  }
  app.logger.error({ err, url: req.url, listener: 'http' }, 'HTTP request failed');
  return send(500, 'internal', 'internal error');
}
