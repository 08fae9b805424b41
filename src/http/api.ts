import type { Principal } from '../auth/admin-credentials.js';
import type { BrokerAdmin, ClientDetails, SessionDetails } from '../broker/admin.js';
import { NEVER_EXPIRES } from '../broker/session-registry.js';
import type { Message, QoS } from '../model.js';
import { isReservedTopic, isValidTopicFilter } from '../protocol/topic.js';
import type { AccessLevel, Denial } from './access.js';
import * as S from './schemas.js';

/** What an API handler works with, supplied by the HTTP server. */
export interface ApiContext {
  readonly admin: BrokerAdmin;
  status(): object;
  history(): { intervalSeconds: number; samples: { time: number; messagesIn: number; messagesOut: number; connections: number; dropped: number }[] };
  publish(input: PublishRequest): Promise<void>;
  /** Rereads the password, ACL, JWKS and admin credentials files; throws ERR_SECURITY_FILE. */
  reload(): void;
  login(username: string, password: string, address: string | undefined): Promise<{ token: string; principal: Principal; expiresAt: number } | 'busy' | undefined>;
  logout(authorization: string | undefined): boolean;
  /** Why requests from `address` are refused for now (too many failed authentications), if they are. */
  limited(address: string | undefined): Denial | undefined;
  readonly readOnly: boolean;
}

/** A request as a handler sees it. */
export interface ApiRequest {
  readonly params: Record<string, string>;
  readonly query: Record<string, unknown>;
  readonly body: unknown;
  readonly principal: Principal | undefined;
  readonly authorization: string | undefined;
  readonly address: string | undefined;
}

/** What a handler answers: a body (200) or a status with an optional body. */
export type ApiResult = { status: number; body?: unknown };

/** One route of the API: what it needs, its schemas, and what it does. */
export interface ApiRoute {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** The OpenAPI operationId. */
  readonly id: string;
  /** Under /api/v1, fastify syntax (`:clientId`). */
  readonly path: string;
  readonly access: AccessLevel;
  readonly summary: string;
  readonly tag: string;
  readonly schema: { params?: object; querystring?: object; body?: object; response: Record<number, object> };
  handle(api: ApiContext, req: ApiRequest): ApiResult | Promise<ApiResult>;
}

/** A message to publish, as the publish route hands it on. */
export interface PublishRequest {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly contentType?: string | undefined;
  readonly responseTopic?: string | undefined;
  readonly messageExpiryInterval?: number | undefined;
  readonly userProperties?: Record<string, string> | undefined;
}

const PREVIEW_BYTES = 1024;
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const ok = (body: unknown): ApiResult => ({ status: 200, body });
const notFound = (what: string): ApiResult => ({ status: 404, body: { error: 'not-found', message: what } });
const noContent: ApiResult = { status: 204 };

/** `items` cut to the page the query asks for. */
function page<T>(items: T[], query: Record<string, unknown>): { total: number; offset: number; limit: number; items: T[] } {
  const offset = Number(query.offset ?? 0);
  const limit = Number(query.limit ?? 100);
  return { total: items.length, offset, limit, items: items.slice(offset, offset + limit) };
}

/** Case-insensitive substring test; an absent needle matches everything. */
function has(haystack: string | undefined, needle: unknown): boolean {
  return needle === undefined || needle === '' || (haystack ?? '').toLowerCase().includes(String(needle).toLowerCase());
}

function clientOut(c: ClientDetails) {
  const { subscriptions, connectedAt, ...rest } = c;
  return { ...rest, subscriptionCount: subscriptions, connectedAt: iso(connectedAt) };
}

function sessionOut(s: SessionDetails) {
  const { subscriptions, disconnectedAt, willDueAt, ...rest } = s;
  const expires = disconnectedAt !== undefined && s.expiryInterval !== NEVER_EXPIRES ? disconnectedAt + s.expiryInterval * 1000 : undefined;
  return { ...rest, subscriptionCount: subscriptions, disconnectedAt: iso(disconnectedAt), expiresAt: iso(expires), willDueAt: iso(willDueAt) };
}

/** A retained message for JSON: text when the payload is UTF-8 without control characters, else base64; `limit` bytes at most. */
function retainedOut(m: Message, limit = Number.POSITIVE_INFINITY) {
  const shown = m.payload.length > limit ? m.payload.subarray(0, limit) : m.payload;
  const text = new TextDecoder('utf-8', { fatal: true });
  let payload: string;
  let encoding: 'utf8' | 'base64' = 'utf8';
  try {
    payload = text.decode(shown, { stream: shown !== m.payload });
    // Control characters other than tab and line breaks mean binary data, whatever UTF-8 says
    if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(payload)) throw new Error('binary');
  } catch {
    payload = shown.toString('base64');
    encoding = 'base64';
  }
  const { contentType, userProperties } = m.properties ?? {};
  return { topic: m.topic, qos: m.qos, size: m.payload.length, payload, encoding, truncated: shown !== m.payload, contentType, expiresAt: iso(m.expiresAt), userProperties };
}

const listQuery = (extra: Record<string, object>) => ({ type: 'object', additionalProperties: false, properties: { ...extra, ...S.paging } });
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, S.errorBody]));

/** Every route of /api/v1, in the order of the OpenAPI file. */
export const API_ROUTES: readonly ApiRoute[] = [
  {
    method: 'GET', id: 'getStatus', path: '/status', access: 'read', tag: 'broker', summary: 'Broker status: the figures of /status.json',
    schema: { response: { 200: S.statusSchema } },
    handle: (api) => ok(api.status()),
  },
  {
    method: 'GET', id: 'getHistory', path: '/history', access: 'read', tag: 'broker', summary: 'Message rates, connections and drops over the last 15 minutes (5 s samples)',
    schema: { response: { 200: S.historySchema } },
    handle: (api) => {
      const h = api.history();
      return ok({ intervalSeconds: h.intervalSeconds, samples: h.samples.map((s) => ({ ...s, time: iso(s.time) })) });
    },
  },
  {
    method: 'GET', id: 'listClients', path: '/clients', access: 'read', tag: 'clients', summary: 'Connected clients, searched by client id, username or address',
    schema: {
      querystring: listQuery({
        q: { type: 'string', description: 'matches client id, username or address (case-insensitive substring)' },
        clientId: { type: 'string', description: 'substring of the client id' },
        username: { type: 'string', description: 'substring of the username' },
        address: { type: 'string', description: 'substring of the remote address' },
      }),
      response: { 200: S.pageOf(S.clientSchema, 'a page of clients, ordered by client id') },
    },
    handle: (api, { query }) => {
      const all = api.admin.clients().filter((c) => {
        const any = query.q === undefined || has(c.clientId, query.q) || has(c.username, query.q) || has(c.address, query.q);
        return any && has(c.clientId, query.clientId) && has(c.username, query.username) && has(c.address, query.address);
      });
      return ok(page(all.map(clientOut), query));
    },
  },
  {
    method: 'GET', id: 'getClient', path: '/clients/:clientId', access: 'read', tag: 'clients', summary: 'One connected client, with its subscriptions',
    schema: { params: S.clientIdParam, response: { 200: S.clientDetailsSchema, ...errors(404) } },
    handle: (api, { params }) => {
      const id = params.clientId as string;
      const client = api.admin.client(id);
      const session = api.admin.session(id);
      if (!client || !session) return notFound(`no connected client ${JSON.stringify(id)}`);
      return ok({ ...clientOut(client), expiryInterval: session.expiryInterval, subscriptions: (api.admin.subscriptionsOf(id) ?? []) });
    },
  },
  {
    method: 'POST', id: 'kickClient', path: '/clients/:clientId/kick', access: 'admin', tag: 'clients',
    summary: 'Disconnects a client (MQTT 5: DISCONNECT 0x98 Administrative action); its session and will apply as for any close by the server',
    schema: { params: S.clientIdParam, response: { 204: { type: 'null' }, ...errors(404) } },
    handle: (api, { params }) => (api.admin.kick(params.clientId as string) ? noContent : notFound(`no connected client ${JSON.stringify(params.clientId)}`)),
  },
  {
    method: 'GET', id: 'listSessions', path: '/sessions', access: 'read', tag: 'sessions', summary: 'Sessions, connected and offline',
    schema: {
      querystring: listQuery({
        clientId: { type: 'string', description: 'substring of the client id' },
        connected: { type: 'boolean', description: 'only connected (true) or offline (false) sessions' },
      }),
      response: { 200: S.pageOf(S.sessionSchema, 'a page of sessions, ordered by client id') },
    },
    handle: (api, { query }) => {
      const all = api.admin.sessions().filter((s) => has(s.clientId, query.clientId) && (query.connected === undefined || s.connected === query.connected));
      return ok(page(all.map(sessionOut), query));
    },
  },
  {
    method: 'GET', id: 'getSession', path: '/sessions/:clientId', access: 'read', tag: 'sessions', summary: 'One session, with its subscriptions',
    schema: { params: S.clientIdParam, response: { 200: S.sessionDetailsSchema, ...errors(404) } },
    handle: (api, { params }) => {
      const id = params.clientId as string;
      const session = api.admin.session(id);
      if (!session) return notFound(`no session ${JSON.stringify(id)}`);
      return ok({ ...sessionOut(session), subscriptions: (api.admin.subscriptionsOf(id) ?? []) });
    },
  },
  {
    method: 'DELETE', id: 'deleteSession', path: '/sessions/:clientId', access: 'admin', tag: 'sessions',
    summary: 'Ends a session: a connected client is kicked first; subscriptions and queued messages are removed; a pending will is published',
    schema: { params: S.clientIdParam, response: { 204: { type: 'null' }, ...errors(404) } },
    handle: (api, { params }) => (api.admin.deleteSession(params.clientId as string) ? noContent : notFound(`no session ${JSON.stringify(params.clientId)}`)),
  },
  {
    method: 'GET', id: 'listSubscriptions', path: '/subscriptions', access: 'read', tag: 'subscriptions', summary: 'Subscriptions of every session, filtered',
    schema: {
      querystring: listQuery({
        clientId: { type: 'string', description: 'exact client id' },
        filter: { type: 'string', description: 'exact topic filter as subscribed' },
        matching: { type: 'string', description: 'a topic name: subscriptions whose filter matches it' },
        qos: { type: 'integer', enum: [0, 1, 2] },
        group: { type: 'string', description: 'shared subscription group' },
      }),
      response: { 200: S.pageOf(S.subscriptionSchema, 'a page of subscriptions, ordered by client id and filter') },
    },
    handle: (api, { query }) => {
      const q = query as { clientId?: string; filter?: string; matching?: string; qos?: QoS; group?: string };
      return ok(page(api.admin.subscriptions(q), query));
    },
  },
  {
    method: 'GET', id: 'listRetained', path: '/retained', access: 'read', tag: 'retained', summary: 'Retained messages whose topic matches a filter (payloads cut to 1024 bytes)',
    schema: {
      querystring: listQuery({ filter: { type: 'string', minLength: 1, default: '#', description: 'topic filter; # does not match $ topics' } }),
      response: { 200: S.pageOf(S.retainedSchema, 'a page of retained messages, ordered by topic'), ...errors(400) },
    },
    handle: (api, { query }) => {
      const filter = String(query.filter ?? '#');
      if (!isValidTopicFilter(filter)) return { status: 400, body: { error: 'bad-request', message: `invalid topic filter ${JSON.stringify(filter)}` } };
      const all = api.admin.retained(filter);
      const p = page(all, query);
      return ok({ ...p, items: p.items.map((m) => retainedOut(m, PREVIEW_BYTES)) });
    },
  },
  {
    method: 'GET', id: 'getRetained', path: '/retained/message', access: 'read', tag: 'retained', summary: 'The retained message of one topic, whole',
    schema: { querystring: S.topicQuery, response: { 200: S.retainedSchema, ...errors(404) } },
    handle: (api, { query }) => {
      const m = api.admin.retainedMessage(String(query.topic));
      return m ? ok(retainedOut(m)) : notFound(`no retained message on ${JSON.stringify(query.topic)}`);
    },
  },
  {
    method: 'DELETE', id: 'deleteRetained', path: '/retained/message', access: 'admin', tag: 'retained', summary: 'Clears the retained message of one topic (memory and store)',
    schema: { querystring: S.topicQuery, response: { 204: { type: 'null' }, ...errors(404) } },
    handle: (api, { query }) => (api.admin.deleteRetained(String(query.topic)) ? noContent : notFound(`no retained message on ${JSON.stringify(query.topic)}`)),
  },
  {
    method: 'POST', id: 'publish', path: '/publish', access: 'admin', tag: 'messages',
    summary: 'Publishes a message as the broker (plugins transform it; it is not checked against the ACL); resolves once routed and stored',
    schema: { body: S.publishBody, response: { 204: { type: 'null' }, ...errors(400) } },
    handle: async (api, { body }) => {
      const b = body as { topic: string; payload: string; encoding: 'utf8' | 'base64'; qos: QoS; retain: boolean; contentType?: string; responseTopic?: string; messageExpiryInterval?: number; userProperties?: Record<string, string> };
      // What no client may write ($SYS/, $share), the API does not write either
      if (isReservedTopic(b.topic)) return { status: 400, body: { error: 'bad-request', message: `${JSON.stringify(b.topic)} is reserved to the broker` } };
      if (b.encoding === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(b.payload)) return { status: 400, body: { error: 'bad-request', message: 'payload is not base64' } };
      const payload = Buffer.from(b.payload, b.encoding);
      await api.publish({ ...b, payload });
      return noContent;
    },
  },
  {
    method: 'POST', id: 'reload', path: '/reload', access: 'admin', tag: 'broker',
    summary: 'Rereads the password, ACL, JWKS and SCRAM files (as SIGHUP) and the admin credentials; on an error every current rule stays',
    schema: { response: { 204: { type: 'null' }, ...errors(422) } },
    handle: (api) => {
      api.reload();
      return noContent;
    },
  },
  {
    method: 'GET', id: 'whoami', path: '/whoami', access: 'read', tag: 'access', summary: 'Who the request is authenticated as, and whether anyone may act',
    schema: { response: { 200: S.principalSchema } },
    handle: (api, { principal }) => ok({ ...(principal ?? { name: 'anonymous', role: 'read', kind: 'anonymous' }), readOnly: api.readOnly }),
  },
  {
    method: 'POST', id: 'login', path: '/login', access: 'open', tag: 'access', summary: 'Exchanges a user name and password (midge admin add-user) for a token valid 12 hours',
    schema: { body: S.loginBody, response: { 200: S.loginResponse, ...errors(401, 429) } },
    handle: async (api, { body, address }) => {
      const { username, password } = body as { username: string; password: string };
      const limited = api.limited(address);
      if (limited) return { status: limited.status, body: { error: limited.error, message: limited.message } };
      const login = await api.login(username, password, address);
      if (login === 'busy') return { status: 429, body: { error: 'too-many-requests', message: 'too many password checks at once: retry' } };
      if (!login) return { status: 401, body: { error: 'unauthorized', message: 'bad user name or password' } };
      return ok({ token: login.token, name: login.principal.name, role: login.principal.role, expiresAt: iso(login.expiresAt) });
    },
  },
  {
    method: 'POST', id: 'logout', path: '/logout', access: 'open', tag: 'access', summary: 'Ends the login session whose token is in the Authorization header',
    schema: { response: { 204: { type: 'null' } } },
    handle: (api, { authorization }) => {
      api.logout(authorization);
      return noContent;
    },
  },
];
