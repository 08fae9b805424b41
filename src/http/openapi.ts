import { stringify } from 'yaml';
import { API_ROUTES, type ApiRoute } from './api.js';
import { errorBody } from './schemas.js';

type Json = Record<string, unknown>;

const ACCESS_TEXT: Record<ApiRoute['access'], string> = {
  open: 'No credentials needed.',
  read: 'Any token or user (read or admin).',
  admin: 'A token or user with the admin role.',
  metrics: 'Open, or any token or user when metricsAuth is true.',
};

const error = (description: string) => ({ description, content: { 'application/json': { schema: errorBody } } });
const text = (description: string) => ({ description, content: { 'text/plain': { schema: { type: 'string' } } } });

/** Path and query parameters of a route, from its schemas. */
function parametersOf(route: ApiRoute): Json[] {
  const out: Json[] = [];
  for (const [where, schema] of [['path', route.schema.params], ['query', route.schema.querystring]] as const) {
    const s = schema as { properties?: Record<string, Json>; required?: string[] } | undefined;
    for (const [name, prop] of Object.entries(s?.properties ?? {})) {
      const { description, ...rest } = prop;
      out.push({ name, in: where, required: where === 'path' || (s?.required ?? []).includes(name), ...(description ? { description } : {}), schema: rest });
    }
  }
  return out;
}

function operationOf(route: ApiRoute): Json {
  const responses: Json = {};
  for (const [code, schema] of Object.entries(route.schema.response)) {
    const status = Number(code);
    if (status === 204) responses[code] = { description: 'Done.' };
    else if (status >= 400) responses[code] = error(status === 404 ? 'Not found.' : status === 422 ? 'A security file is invalid; the current rules stay.' : 'Refused.');
    else responses[code] = { description: 'OK.', content: { 'application/json': { schema } } };
  }
  if (route.schema.body || route.schema.querystring || route.schema.params) responses['400'] ??= error('The request does not match its schema.');
  if (route.access !== 'open') {
    responses['401'] = error('No credentials, or bad ones (while any token or user is configured).');
    responses['403'] = error('forbidden: the read role, or no admin configured (read-only); loopback-only: no admin configured and the client is not on loopback.');
    responses['429'] = error('Too many failed authentications from this address in the last minute.');
  }
  const op: Json = {
    operationId: route.id,
    summary: route.summary,
    description: ACCESS_TEXT[route.access],
    tags: [route.tag],
    parameters: parametersOf(route),
    responses,
  };
  if (route.access === 'open') op.security = [];
  if (route.schema.body) op.requestBody = { required: true, content: { 'application/json': { schema: route.schema.body } } };
  return op;
}

/** The admin API and the operations endpoints as an OpenAPI 3.1 document. */
export function openApiDocument(version: string): Json {
  const paths: Record<string, Json> = {
    '/healthz': { get: { operationId: 'healthz', summary: '200 while the process runs', tags: ['operations'], security: [], responses: { 200: text('ok') } } },
    '/readyz': {
      get: { operationId: 'readyz', summary: '200 once the store is open and every listener bound; 503 before and during shutdown', tags: ['operations'], security: [], responses: { 200: text('ready'), 503: text('not ready: WHY') } },
    },
    '/metrics': {
      get: { operationId: 'metrics', summary: 'Prometheus text format', description: ACCESS_TEXT.metrics, tags: ['operations'], responses: { 200: text('metrics'), 401: error('metricsAuth is on and no valid credential was given.') } },
    },
    '/status.json': {
      get: { operationId: 'statusJson', summary: 'The dashboard figures (the same as /api/v1/status)', description: ACCESS_TEXT.read, tags: ['operations'], responses: { 200: { description: 'OK.', content: { 'application/json': { schema: { type: 'object' } } } } } },
    },
  };
  for (const route of API_ROUTES) {
    const url = `/api/v1${route.path.replace(/:(\w+)/g, '{$1}')}`;
    (paths[url] ??= {})[route.method.toLowerCase()] = operationOf(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Midge admin API',
      version,
      description:
        'The HTTP listener of the Midge MQTT broker. Tokens and users are created with `midge admin` and stored hashed in the data directory. ' +
        'With none configured, the API answers loopback clients only, without credentials and read-only. Any token or user may read; only the admin role may kick, delete, publish or reload. ' +
        'Times are ISO 8601; lists take offset and limit and answer total.',
      license: { name: 'MIT' },
    },
    servers: [{ url: 'http://127.0.0.1:8080' }],
    security: [{ bearerAuth: [] }, { basicAuth: [] }],
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'an API token (midge admin add-token) or a token from POST /api/v1/login' },
        basicAuth: { type: 'http', scheme: 'basic', description: 'a user (midge admin add-user) and its password' },
      },
    },
    paths,
  };
}

/** The document as YAML, as committed in docs/admin-api.yaml. */
export function openApiYaml(version: string): string {
  return `# Generated from src/http/api.ts and src/http/schemas.ts by \`npm run openapi\`; do not edit by hand.\n${stringify(openApiDocument(version), { lineWidth: 0, aliasDuplicateObjects: false })}`;
}
