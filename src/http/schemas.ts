/**
 * JSON Schemas of the admin API: fastify validates requests and serializes responses with them,
 * and docs/admin-api.yaml (OpenAPI 3.1) is generated from them (src/http/openapi.ts).
 */

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;
const time = { type: 'string', format: 'date-time' } as const;
const nullable = <T extends object>(schema: T) => ({ anyOf: [schema, { type: 'null' }] });

/** Paging of every list: `offset` and `limit` in, `total` out. */
export const paging = {
  offset: { type: 'integer', minimum: 0, default: 0, description: 'items to skip' },
  limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'items to return (at most 1000)' },
} as const;

/** A page of `item`s. */
export function pageOf(item: object, description: string): object {
  return {
    type: 'object',
    description,
    required: ['total', 'offset', 'limit', 'items'],
    properties: { total: { ...int, description: 'items that match, over all pages' }, offset: int, limit: int, items: { type: 'array', items: item } },
  };
}

export const errorBody = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { ...str, description: 'a stable code: bad-request, unauthorized, forbidden, loopback-only, not-found, ...' }, message: str },
} as const;

export const clientIdParam = {
  type: 'object',
  required: ['clientId'],
  properties: { clientId: { ...str, maxLength: 65535, description: 'the MQTT client identifier (percent-encoded in the path)' } },
} as const;

export const subscriptionSchema = {
  type: 'object',
  required: ['clientId', 'filter', 'qos', 'noLocal', 'retainAsPublished', 'retainHandling'],
  properties: {
    clientId: str,
    filter: { ...str, description: 'as subscribed, with any $share/GROUP/ prefix' },
    qos: { type: 'integer', enum: [0, 1, 2] },
    noLocal: bool,
    retainAsPublished: bool,
    retainHandling: { type: 'integer', enum: [0, 1, 2] },
    identifier: nullable(int),
    group: nullable({ ...str, description: 'shared subscription group' }),
  },
} as const;

export const clientSchema = {
  type: 'object',
  required: ['clientId', 'listener', 'protocolVersion', 'keepalive', 'subscriptionCount', 'inflight', 'queued'],
  properties: {
    clientId: str,
    username: nullable(str),
    address: nullable({ ...str, description: 'remote IP address' }),
    listener: { ...str, description: 'tcp, ws, tls, wss or a custom name' },
    protocolVersion: { type: 'integer', enum: [3, 4, 5], description: '3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0' },
    keepalive: { ...int, description: 'seconds, as accepted; 0 = none' },
    connectedAt: nullable(time),
    subscriptionCount: int,
    inflight: { ...int, description: 'QoS 1/2 messages sent and not yet acknowledged' },
    queued: { ...int, description: 'messages waiting for the in-flight window' },
  },
} as const;

export const clientDetailsSchema = {
  ...clientSchema,
  required: [...clientSchema.required, 'subscriptions', 'expiryInterval'],
  properties: { ...clientSchema.properties, expiryInterval: { ...int, description: 'Session Expiry Interval, seconds' }, subscriptions: { type: 'array', items: subscriptionSchema } },
} as const;

export const sessionSchema = {
  type: 'object',
  required: ['clientId', 'connected', 'expiryInterval', 'subscriptionCount', 'inflight', 'queued'],
  properties: {
    clientId: str,
    connected: bool,
    expiryInterval: { ...int, description: 'Session Expiry Interval, seconds (4294967295: never)' },
    disconnectedAt: nullable(time),
    expiresAt: nullable({ ...time, description: 'when an offline session ends, unless its client returns' }),
    subscriptionCount: int,
    inflight: int,
    queued: { ...int, description: 'messages waiting, in memory and on disk' },
    willDueAt: nullable({ ...time, description: 'when a delayed will is due' }),
  },
} as const;

export const sessionDetailsSchema = {
  ...sessionSchema,
  required: [...sessionSchema.required, 'subscriptions'],
  properties: { ...sessionSchema.properties, subscriptions: { type: 'array', items: subscriptionSchema } },
} as const;

export const retainedSchema = {
  type: 'object',
  required: ['topic', 'qos', 'size', 'payload', 'encoding', 'truncated'],
  properties: {
    topic: str,
    qos: { type: 'integer', enum: [0, 1, 2] },
    size: { ...int, description: 'payload bytes' },
    payload: { ...str, description: 'the payload as text (encoding utf8), or base64 (encoding base64) when it is not UTF-8 or holds control characters' },
    encoding: { type: 'string', enum: ['utf8', 'base64'] },
    truncated: { ...bool, description: 'true when a listing shows only the first 1024 bytes' },
    contentType: nullable(str),
    expiresAt: nullable(time),
    userProperties: nullable({ type: 'object', additionalProperties: { anyOf: [str, { type: 'array', items: str }] } }),
  },
} as const;

export const topicQuery = {
  type: 'object',
  required: ['topic'],
  properties: { topic: { ...str, minLength: 1, maxLength: 65535, description: 'a topic name (no wildcards)' } },
} as const;

export const publishBody = {
  type: 'object',
  required: ['topic'],
  additionalProperties: false,
  properties: {
    topic: { ...str, minLength: 1, maxLength: 65535 },
    payload: { ...str, default: '', description: 'text, or base64 with encoding base64' },
    encoding: { type: 'string', enum: ['utf8', 'base64'], default: 'utf8' },
    qos: { type: 'integer', enum: [0, 1, 2], default: 0 },
    retain: { ...bool, default: false },
    contentType: str,
    responseTopic: str,
    messageExpiryInterval: { type: 'integer', minimum: 1, maximum: 4294967295 },
    userProperties: { type: 'object', additionalProperties: str },
  },
} as const;

export const loginBody = {
  type: 'object',
  required: ['username', 'password'],
  additionalProperties: false,
  properties: { username: { ...str, minLength: 1, maxLength: 64 }, password: { ...str, minLength: 1, maxLength: 4096 } },
} as const;

export const principalSchema = {
  type: 'object',
  required: ['name', 'role', 'kind', 'readOnly'],
  properties: {
    name: str,
    role: { type: 'string', enum: ['admin', 'read'] },
    kind: { type: 'string', enum: ['token', 'user', 'login', 'anonymous'] },
    readOnly: { ...bool, description: 'true while no admin is configured: nobody may act' },
  },
} as const;

export const loginResponse = {
  type: 'object',
  required: ['token', 'name', 'role', 'expiresAt'],
  properties: { token: { ...str, description: 'send as Authorization: Bearer TOKEN' }, name: str, role: { type: 'string', enum: ['admin', 'read'] }, expiresAt: time },
} as const;

export const historySchema = {
  type: 'object',
  required: ['intervalSeconds', 'samples'],
  properties: {
    intervalSeconds: int,
    samples: {
      type: 'array',
      items: {
        type: 'object',
        required: ['time', 'messagesIn', 'messagesOut', 'connections', 'dropped'],
        properties: {
          time,
          messagesIn: { type: 'number', description: 'messages received per second over the interval' },
          messagesOut: { type: 'number', description: 'messages sent per second' },
          connections: { ...int, description: 'connected clients at the end of the interval' },
          dropped: { type: 'number', description: 'messages dropped per second, every reason' },
        },
      },
    },
  },
} as const;

export const statusSchema = {
  type: 'object',
  description: 'The figures of /status.json',
  additionalProperties: true,
  required: ['version', 'startedAt', 'uptimeSeconds', 'clients', 'messages', 'bytes', 'retained', 'subscriptions', 'inflight', 'queued', 'store', 'bridge', 'websocket'],
  properties: {
    version: str,
    startedAt: time,
    uptimeSeconds: int,
    clients: { type: 'object', additionalProperties: true, properties: { connected: int, sessions: int } },
    messages: { type: 'object', additionalProperties: true, properties: { received: int, sent: int, dropped: int } },
    bytes: { type: 'object', additionalProperties: true, properties: { received: int, sent: int } },
    retained: int,
    subscriptions: int,
    inflight: int,
    queued: int,
    store: { type: 'object', additionalProperties: true },
    bridge: { type: 'object', additionalProperties: true },
    websocket: nullable({ type: 'object', additionalProperties: true }),
  },
} as const;
