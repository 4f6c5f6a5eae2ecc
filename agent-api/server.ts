// The agent endpoint (docs/agent-api.md): authenticates an agent's scoped key, checks its scope before anything is
// looked up, asks the link's workflow through ExtauthClient (so N agents of a link still cause one exchange), and
// records every token handed out, and every refusal, in token_audit.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ExtauthError } from '../client/errors.js';
import { DEFAULT_MIN_VALID_SECONDS, type ExtauthClient } from '../client/index.js';
import { AgentErrorCode } from '../core/failures.js';
import { fingerprint } from '../core/fingerprint.js';
import type { TokenGrant } from '../core/types.js';
import type { ProviderConfig } from '../providers/config.js';
import { authenticateAgentKeys, type AgentKeyRefusal, type AgentKeyScope, type Authentication } from '../store/agent-keys.js';
import { recordAudit, recordAudits, type AuditEntry } from '../store/audit.js';
import { batchedPerTurn } from './batch.js';
import { FINGERPRINT_PATTERN, MAX_MIN_VALID_SECONDS, MAX_WAIT_SECONDS } from '../workflows/messages.js';
import { bearerCredential, BodyTooLargeError, readBody, replyJson } from './http.js';
import type { AgentRequestCounter } from './metrics.js';

export interface AgentServerDeps {
  pool: Pool;
  client: Pick<ExtauthClient, 'getToken'>;
  providers: readonly Pick<ProviderConfig, 'id' | 'type' | 'hosts'>[];
  logger: Logger;
  requests: AgentRequestCounter;
}

/** HTTP status of each refusal (docs/agent-api.md); a missing credential is 401, every other `forbidden` 403. */
const STATUS: Record<AgentErrorCode, number> = {
  invalid_request: 400,
  forbidden: 403,
  link_not_found: 404,
  unknown_provider: 404,
  reauth_required: 409,
  provider_unavailable: 503,
};

/** Receiving a request (headers and body) is bounded; answering is bounded by ExtauthClient's own deadline. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

const tokenRequestSchema = z.object({
  provider: z.string().min(1).max(200),
  user: z.string().min(1).max(200),
  minValidSeconds: z.number().int().min(0).max(MAX_MIN_VALID_SECONDS).default(DEFAULT_MIN_VALID_SECONDS),
  waitSeconds: z.number().int().min(0).max(MAX_WAIT_SECONDS).default(0),
  /** The agent's token got a 401: the fingerprint of that token (issue "told expiry"); forwarded unchanged. */
  rejectedFingerprint: z.string().regex(FINGERPRINT_PATTERN, 'the 12 lower-case hex characters of a token fingerprint').optional(),
});

const REFUSAL_REASON: Record<AgentKeyRefusal, string> = {
  unparsable: 'the agent key is not an extauth agent key (eak_<id>_<secret>)',
  unknown: 'the agent key is unknown',
  revoked: 'the agent key was revoked; ask your operator for a new one',
  expired: 'the agent key expired; ask your operator for a new one',
};

/** A refusal: its HTTP status, its error code and reason, and (for the log only) its cause. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: AgentErrorCode,
    readonly reason: string,
    readonly logCause: string = reason,
  ) {
    super(reason);
  }
}

/** Who asked for what: filled in as the request is read, for the audit and the log. */
interface RequestContext {
  keyId: string | undefined;
  keyName: string;
  provider: string;
  user: string;
}

/**
 * The requests of one event-loop turn share one key lookup and one audit write (agent-api/batch.ts): each lookup still
 * reads the database after its request arrived (a key revoked before that is refused), and each token is still handed
 * out only once the INSERT holding its audit row has committed.
 */
interface Batched {
  authenticate: (key: string) => Promise<Authentication>;
  recordServed: (entry: Omit<AuditEntry, 'servedAt'>) => Promise<void>;
}

export function createAgentServer(deps: AgentServerDeps): Server {
  const batched: Batched = {
    authenticate: batchedPerTurn((keys: string[]) => authenticateAgentKeys(deps.pool, keys)),
    recordServed: batchedPerTurn(async (entries: Omit<AuditEntry, 'servedAt'>[]) => {
      await recordAudits(deps.pool, entries);
      return entries.map(() => undefined);
    }),
  };
  const server = createServer((req, res) => {
    route(req, res, deps, batched).catch((err) => {
      deps.logger.error({ step: 'agent-endpoint', path: req.url, cause: (err as Error).message }, 'agent endpoint failed to answer');
      replyJson(res, 503, { error: 'provider_unavailable', reason: 'the agent endpoint failed; see its logs' });
    });
  });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  return server;
}

async function route(req: IncomingMessage, res: ServerResponse, deps: AgentServerDeps, batched: Batched): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (path === '/healthz' && req.method === 'GET') return replyJson(res, 200, { ok: true });
  if (path === '/v1/token' && req.method === 'POST') return serveToken(req, res, deps, batched);
  if (path === '/v1/providers' && req.method === 'GET') return serveProviders(req, res, deps, batched);
  if (path === '/healthz' || path === '/v1/token' || path === '/v1/providers') return replyJson(res, 405, { error: 'method_not_allowed' });
  return replyJson(res, 404, { error: 'not_found', reason: 'POST /v1/token, GET /v1/providers or GET /healthz' });
}

async function serveToken(req: IncomingMessage, res: ServerResponse, deps: AgentServerDeps, batched: Batched): Promise<void> {
  const context: RequestContext = { keyId: undefined, keyName: '', provider: '', user: '' };
  try {
    const text = await readBoundedBody(req);
    const body = parseJsonBody(text);
    // Only to name the requested link in the audit and log of a refusal; validated below.
    const claimed = body.ok ? (body.value as { provider?: unknown; user?: unknown } | null) : undefined;
    if (typeof claimed?.provider === 'string') context.provider = claimed.provider.slice(0, 200);
    if (typeof claimed?.user === 'string') context.user = claimed.user.slice(0, 200);

    const scope = await authenticate(req, batched, context);
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      throw new Refusal(400, 'invalid_request', 'the body must be JSON, sent with content-type: application/json');
    }
    if (!body.ok) throw new Refusal(400, 'invalid_request', 'the body is not valid JSON');
    const parsed = tokenRequestSchema.safeParse(body.value);
    if (!parsed.success) {
      throw new Refusal(400, 'invalid_request', parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    }
    const request = parsed.data;
    // The scope is checked before anything is looked up: a refusal says nothing about the other link.
    if (request.provider !== scope.providerId || request.user !== scope.userId) {
      throw new Refusal(403, 'forbidden', `agent key ${scope.keyId} is not scoped to this link`, 'key scoped to another link');
    }

    let grant: TokenGrant;
    try {
      grant = await deps.client.getToken(request);
    } catch (err) {
      if (err instanceof ExtauthError) throw new Refusal(STATUS[err.code], err.code, err.reason);
      throw err;
    }
    const tokenFingerprint = fingerprint(grant.accessToken);
    try {
      await batched.recordServed({ ...auditKey(context), tokenFingerprint, outcome: 'served' });
    } catch (err) {
      // Every token handed out is in the audit: without the record, no token.
      throw new Refusal(503, 'provider_unavailable', 'the agent endpoint cannot record the audit; try again later', `audit write failed: ${(err as Error).message}`);
    }
    deps.requests.inc({ outcome: 'served' });
    deps.logger.info({ step: 'agent-endpoint', keyId: context.keyId, provider: context.provider, user: context.user, tokenFingerprint }, 'token served to agent');
    // Exactly the contract's fields, whatever else a grant may carry.
    const { accessToken, tokenType, expiresAt, username, password } = grant;
    replyJson(res, 200, { accessToken, tokenType, expiresAt, username, password });
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    await refuse(res, deps, context, err, { audit: true });
  }
}

async function serveProviders(req: IncomingMessage, res: ServerResponse, deps: AgentServerDeps, batched: Batched): Promise<void> {
  const context: RequestContext = { keyId: undefined, keyName: '', provider: '', user: '' };
  try {
    const scope = await authenticate(req, batched, context);
    const providers = deps.providers
      .filter((p) => p.id === scope.providerId)
      .map((p) => ({ id: p.id, type: p.type, hosts: p.hosts ?? [] }));
    replyJson(res, 200, { providers });
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    // Not a token request: logged and counted, not audited.
    await refuse(res, deps, context, err, { audit: false });
  }
}

async function readBoundedBody(req: IncomingMessage): Promise<string> {
  try {
    return await readBody(req);
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw new Refusal(413, 'invalid_request', err.message);
    throw err;
  }
}

function parseJsonBody(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** The key's scope; a refusal for a missing, unknown, revoked or expired key. Fills in the context's key id and name. */
async function authenticate(req: IncomingMessage, batched: Batched, context: RequestContext): Promise<AgentKeyScope> {
  const key = bearerCredential(req);
  if (!key) throw new Refusal(401, 'forbidden', 'no agent key: send Authorization: Bearer <key> (EXTAUTH_AGENT_KEY)', 'no bearer key');
  const result = await batched.authenticate(key);
  context.keyId = result.ok ? result.scope.keyId : result.keyId;
  if (!result.ok) throw new Refusal(403, 'forbidden', REFUSAL_REASON[result.refusal], `key ${result.refusal}`);
  context.keyName = result.scope.keyName;
  return result.scope;
}

async function refuse(res: ServerResponse, deps: AgentServerDeps, context: RequestContext, refusal: Refusal, { audit }: { audit: boolean }): Promise<void> {
  deps.requests.inc({ outcome: refusal.code });
  // The key id (its public part) or "none"; never the key.
  deps.logger.warn(
    { step: 'agent-endpoint', keyId: context.keyId ?? 'none', provider: context.provider, user: context.user, outcome: refusal.code, status: refusal.status, cause: refusal.logCause },
    'agent request refused',
  );
  if (audit) {
    await recordAudit(deps.pool, { ...auditKey(context), tokenFingerprint: null, outcome: refusal.code }).catch((err) =>
      deps.logger.warn({ step: 'agent-endpoint', keyId: context.keyId ?? 'none', provider: context.provider, user: context.user, cause: (err as Error).message }, 'cannot record a refusal in the audit'),
    );
  }
  replyJson(res, refusal.status, { error: refusal.code, reason: refusal.reason });
}

function auditKey(context: RequestContext) {
  return { keyId: context.keyId ?? null, keyName: context.keyName, providerId: context.provider, userId: context.user };
}
