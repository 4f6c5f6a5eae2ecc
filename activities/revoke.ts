// `link delete --revoke`: revokes the deleted link's grant at the provider. Run by the revokeGrant workflow
// (workflows/revoke-grant.ts), retried with backoff on anything transient (5xx, 429, timeouts, connection errors), never
// on a refusal (other 4xx): those throw RevocationRefused with the provider's bounded reason.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ActivityFailure } from '../core/failures.js';
import type { LinkKey } from '../core/types.js';
import { providerText } from '../core/provider-text.js';
import { classifyTokenAnswer, parseProviderBody, retryAfterMs } from '../providers/classify.js';
import type { ProviderConfig } from '../providers/config.js';
import type { GrantTokens } from './delete-link.js';
import type { ActivityDeps } from './deps.js';
import { tokenRequestBody, tokenRequestHeaders } from './exchange.js';
import { callProvider, HttpCallError, type HttpAnswer } from './http.js';
import { requireProvider } from './lookup.js';

export interface RevokeGrantInput extends LinkKey {
  /** readLinkForDelete's sealedGrant: opened here, with the worker key, and nowhere else. */
  sealedGrant: string;
  httpTimeoutMs: number;
}

export interface RevokeGrantResult {
  /** `nothing_to_revoke`: the deleted row held no token (a link already refused for good, its tokens cleared). */
  outcome: 'revoked' | 'nothing_to_revoke';
  how: NonNullable<ProviderConfig['revocation']>;
  /** The provider's HTTP status (absent when nothing was sent). */
  status?: number;
}

/** Retry-After beyond this is not honoured as is: the declared backoff decides instead. */
const MAX_HONOURED_RETRY_AFTER_MS = 5 * 60_000;

export function makeRevokeGrant(deps: ActivityDeps) {
  return async function revokeGrant(input: RevokeGrantInput): Promise<RevokeGrantResult> {
    const provider = requireProvider(deps, input.providerId);
    const how = provider.revocation ?? 'rfc7009';
    const log = deps.logger.child({ provider: input.providerId, link: input.userId, step: 'revoke grant', how, attempt: Context.current().info.attempt });
    if (!provider.revocationUrl) throw refusedAndLogged(log, `provider ${provider.id} no longer has a revocationUrl`);
    const key = { providerId: input.providerId, userId: input.userId };
    // A renewed grant (below) is carried to later attempts in the heartbeat details, sealed: the old tokens are dead then.
    const carried = (Context.current().info.heartbeatDetails as { sealedGrant?: string } | undefined)?.sealedGrant;
    let tokens = deps.sealer.open<GrantTokens>(carried ?? input.sealedGrant, key, `the deleted grant of link ${key.providerId}/${key.userId}`);
    // Up to three calls per attempt (revoke, renew, revoke again), each within its share of the attempt.
    const timeoutMs = Math.max(100, Math.floor(input.httpTimeoutMs / 3));
    const request = how === 'github-grant' ? githubGrantRequest(provider, tokens) : rfc7009Request(provider, tokens);
    if (request === 'nothing') {
      log.info({ outcome: 'nothing_to_revoke' }, 'the deleted link held no token to revoke');
      return { outcome: 'nothing_to_revoke', how };
    }
    if (typeof request === 'string') throw refusedAndLogged(log, request);

    let answer = await send(request, timeoutMs, 'revocation endpoint', log, deps);
    // GitHub revokes a grant only with a live access token: an expired one (an idle link) is renewed with the refresh token first.
    if (how === 'github-grant' && answer.status === 422 && tokens.refreshToken) {
      log.info({ status: 422 }, 'GitHub refused the access token; renewing it with the refresh token to revoke the grant');
      tokens = await renewGrant(provider, tokens.refreshToken, timeoutMs, log, deps);
      Context.current().heartbeat({ sealedGrant: deps.sealer.seal(tokens, key) });
      answer = await send(githubGrantRequest(provider, tokens) as ProviderRequest, timeoutMs, 'revocation endpoint', log, deps);
    }
    const { status, headers } = answer;
    if (status >= 200 && status < 300) {
      log.info({ outcome: 'revoked', status }, 'grant revoked at the provider');
      return { outcome: 'revoked', how, status };
    }
    const reason = answerReason(answer);
    // RFC 7009 2.2.1: 503 asks the client to try later; GitHub answers rate limits with 429 or 403 plus rate-limit headers.
    const rateLimited = status === 403 && (headers.has('retry-after') || headers.get('x-ratelimit-remaining') === '0');
    if (status === 429 || status >= 500 || rateLimited) {
      const wait = retryAfterMs(headers);
      log.warn({ outcome: 'transient', status, cause: reason, retryAfterMs: wait }, 'revocation endpoint failed; will retry');
      throw ApplicationFailure.create({
        type: ActivityFailure.ProviderUnavailable,
        message: `revocation endpoint: ${reason}`,
        nextRetryDelay: wait ? Math.min(wait, MAX_HONOURED_RETRY_AFTER_MS) : undefined,
      });
    }
    throw refusedAndLogged(log, reason, status);
  };
}

async function send(request: ProviderRequest, timeoutMs: number, what: string, log: ActivityDeps['logger'], deps: ActivityDeps): Promise<HttpAnswer> {
  try {
    return await callProvider(deps.http, request.url, { ...request, timeoutMs });
  } catch (err) {
    if (!(err instanceof HttpCallError)) throw err;
    // Revoking twice is harmless (RFC 7009 2.2: an invalid token is answered 200), so a call that may have arrived is retried.
    log.warn({ outcome: 'transient', cause: err.message }, `${what} got no answer; will retry`);
    throw ApplicationFailure.create({ type: ActivityFailure.ProviderUnavailable, message: `${what}: ${err.message}` });
  }
}

/** A refresh_token grant for a live access token; the provider's refusal means the grant is dead or unusable already. */
async function renewGrant(provider: ProviderConfig, refreshToken: string, timeoutMs: number, log: ActivityDeps['logger'], deps: ActivityDeps): Promise<GrantTokens> {
  const request = { url: provider.tokenUrl, method: 'POST' as const, headers: tokenRequestHeaders(provider), body: tokenRequestBody(provider, refreshToken) };
  const answer = await send(request, timeoutMs, 'token endpoint', log, deps);
  const verdict = classifyTokenAnswer(answer.status, answer.headers, answer.body);
  if (verdict.kind === 'tokens') return { accessToken: verdict.tokens.accessToken, refreshToken: verdict.tokens.refreshToken ?? refreshToken };
  if (verdict.kind === 'permanent') {
    const reason = `HTTP 422 (the access token is not live) and the refresh token was refused too (${verdict.code}, HTTP ${verdict.status}): the grant may be revoked already`;
    throw refusedAndLogged(log, reason, 422);
  }
  log.warn({ outcome: 'transient', status: verdict.status, cause: verdict.reason }, 'renewing the access token for the revocation failed; will retry');
  throw ApplicationFailure.create({ type: ActivityFailure.ProviderUnavailable, message: `token endpoint: ${verdict.reason}` });
}

type ProviderRequest = { url: string; method: 'POST' | 'DELETE'; headers: Record<string, string>; body: string };

/** RFC 7009 2.1: the refresh token (revoking it SHOULD end the grant's access tokens too), else the access token. */
function rfc7009Request(provider: ProviderConfig, tokens: GrantTokens): ProviderRequest | 'nothing' {
  const [token, hint] = tokens.refreshToken ? [tokens.refreshToken, 'refresh_token'] : [tokens.accessToken, 'access_token'];
  if (!token) return 'nothing';
  const form = new URLSearchParams({ token, token_type_hint: hint });
  if (provider.clientAuth === 'body') {
    form.set('client_id', provider.clientId);
    form.set('client_secret', provider.clientSecret);
  }
  return { url: provider.revocationUrl!, method: 'POST', headers: tokenRequestHeaders(provider), body: form.toString() };
}

/** GitHub's "Delete an app authorization": HTTP Basic client_id:client_secret, the access token in a JSON body. */
function githubGrantRequest(provider: ProviderConfig, tokens: GrantTokens): ProviderRequest | string | 'nothing' {
  if (!tokens.accessToken && !tokens.refreshToken) return 'nothing';
  if (!tokens.accessToken) return 'GitHub revokes a grant only with a valid access token, and the deleted link held none: revoke the app in the user\'s GitHub settings';
  const credentials = Buffer.from(`${provider.clientId}:${provider.clientSecret}`).toString('base64');
  return {
    url: provider.revocationUrl!.replace('{client_id}', encodeURIComponent(provider.clientId)),
    method: 'DELETE',
    headers: {
      authorization: `Basic ${credentials}`,
      accept: 'application/vnd.github+json',
      'content-type': 'application/json',
      'x-github-api-version': '2022-11-28',
      'user-agent': 'extauth',
    },
    body: JSON.stringify({ access_token: tokens.accessToken }),
  };
}

/** `HTTP 400 unsupported_token_type: …`, GitHub's `HTTP 422 Validation Failed`: the provider's words, bounded. */
function answerReason({ status, headers, body }: HttpAnswer): string {
  const fields = parseProviderBody(headers.get('content-type') ?? '', body);
  const words = [fields?.error, fields?.error_description, fields?.message].filter((v): v is string => typeof v === 'string' && v !== '');
  const text = providerText(words.join(': '));
  return `HTTP ${status}${text ? ` ${text}` : ''}`;
}

function refused(message: string, status?: number): ApplicationFailure {
  return ApplicationFailure.create({ type: ActivityFailure.RevocationRefused, nonRetryable: true, message, details: [{ status: status ?? null }] });
}

function refusedAndLogged(log: ActivityDeps['logger'], reason: string, status?: number): ApplicationFailure {
  log.warn({ outcome: 'refused', status, cause: reason }, 'the provider refused to revoke the grant; the link stays deleted');
  return refused(`the provider refused the revocation: ${reason}`, status);
}
