import { ApplicationFailure, Context } from '@temporalio/activity';
import { ActivityFailure } from '../core/failures.js';
import type { LinkKey, LinkSnapshot, SealedTokenSet, TokenSet } from '../core/types.js';
import { classifyTokenAnswer, type ParsedTokens } from '../providers/classify.js';
import type { ProviderConfig } from '../providers/config.js';
import { getLink, markExchangeSent, restoreExchangeMarker, type ExchangeMarker, type LinkRow } from '../store/links.js';
import type { ActivityDeps } from './deps.js';
import { callProvider, HttpCallError } from './http.js';
import { callRecorder, statusFailureClass } from './instrument.js';
import { graceRetryDelayMs } from './reuse-grace.js';
import { sealTokenSet } from './sealed-tokens.js';
import { callingRun, requireProvider } from './lookup.js';
import { readCurrentRow } from './load.js';
import { toSnapshot } from './snapshot.js';
import { refreshDueOnFirstStep, type FirstStepRequests } from '../workflows/link-state.js';

export interface ExchangeInput extends LinkKey {
  /**
   * The row version the workflow read; the refresh token is read from that row, never passed around. Absent on a
   * run's first step, when the run holds no copy: the row is read here (as loadLink reads it) and exchanged only if
   * `firstStep`'s requests need it, so a cold refresh costs no separate load (docs/performance.md, 4 December 2026).
   */
  expectedVersion?: number;
  firstStep?: FirstStepRequests;
  /** Overall HTTP deadline, set by the workflow strictly below the attempt's start-to-close timeout. */
  httpTimeoutMs: number;
}

/** Temporal records this result: the refresh token and the provider's other fields in it are sealed with the worker key. */
export type ExchangeResult =
  | { kind: 'exchanged'; tokens: SealedTokenSet; /** the row version whose refresh token was exchanged */ version: number }
  | { kind: 'link_changed' }
  /** A first step whose requests need no refresh: the row as loadLink would have returned it. */
  | { kind: 'current'; link: LinkSnapshot };

/** Retry-After beyond this is not honoured as is: the retry budget decides instead. */
const MAX_HONOURED_RETRY_AFTER_MS = 60_000;

export function makeExchangeRefreshToken(deps: ActivityDeps) {
  return async function exchangeRefreshToken(input: ExchangeInput): Promise<ExchangeResult> {
    const provider = requireProvider(deps, input.providerId);
    let row: LinkRow | undefined;
    if (input.expectedVersion === undefined) {
      row = await readCurrentRow(deps, input);
      const link = toSnapshot(row, provider, deps);
      if (!input.firstStep || !refreshDueOnFirstStep(input, input.firstStep, link, Date.now())) return { kind: 'current', link };
    } else {
      row = (await getLink(deps.pool, input, deps.cipher)) ?? undefined;
      if (!row) throw ApplicationFailure.nonRetryable(`no link for ${input.providerId}/${input.userId}`, ActivityFailure.LinkNotFound);
      if (row.tokenVersion !== input.expectedVersion || row.refreshToken === '') return { kind: 'link_changed' };
    }
    const expectedVersion = row.tokenVersion;

    const log = deps.logger.child({ provider: input.providerId, link: input.userId, step: 'exchange', attempt: Context.current().info.attempt });
    // Set by an earlier request whose answer never got recorded: it may have rotated the token.
    const earlierUnanswered = row.exchangeUnansweredAt;
    const earlierMarker = { at: earlierUnanswered, runId: row.exchangeRunId };
    const { runId } = callingRun();
    if (!(await markExchangeSent(deps.pool, input, expectedVersion, runId))) return { kind: 'link_changed' };
    const nothingRotated = () => restoreMarker(deps, input, expectedVersion, earlierMarker, log);
    const sentAt = Date.now();
    // Inside the provider's reuse grace window (if it has one), replaying an ambiguous request is answered, not punished.
    const graceRetry = () => graceRetryDelayMs(provider.reuseGraceSeconds, sentAt, earlierUnanswered);
    const record = callRecorder(deps, 'exchange', input.providerId);
    let answer;
    try {
      answer = await callProvider(deps.http, provider.tokenUrl, {
        method: 'POST',
        headers: tokenRequestHeaders(provider),
        body: tokenRequestBody(provider, row.refreshToken),
        timeoutMs: input.httpTimeoutMs,
      });
    } catch (err) {
      if (!(err instanceof HttpCallError)) throw err;
      record('transient', err.failureClass);
      if (!err.maybeSent) await nothingRotated();
      const graceRetryMs = err.maybeSent ? graceRetry() : undefined;
      log.warn({ outcome: 'transient', cause: err.message, maybeRotated: err.maybeSent, graceRetryMs }, 'token exchange got no answer; will retry');
      throw ApplicationFailure.create({
        type: ActivityFailure.ProviderUnavailable,
        message: `token endpoint: ${err.message}`,
        nextRetryDelay: graceRetryMs,
      });
    }

    const verdict = classifyTokenAnswer(answer.status, answer.headers, answer.body);
    switch (verdict.kind) {
      case 'tokens':
        record('exchanged');
        log.info({ outcome: 'exchanged', status: answer.status }, 'refresh token exchanged');
        return { kind: 'exchanged', tokens: sealTokenSet(deps.sealer, input, toTokenSet(verdict.tokens, row)), version: expectedVersion };
      case 'permanent':
        record('rejected');
        log.warn({ outcome: 'permanent', status: verdict.status, error: verdict.code }, 'provider refused the refresh token');
        throw ApplicationFailure.create({
          type: ActivityFailure.RefreshRejected,
          nonRetryable: true,
          message: `${verdict.code}${verdict.description ? `: ${verdict.description}` : ''} (HTTP ${verdict.status})`,
          details: [{ code: verdict.code, status: verdict.status, unansweredSince: earlierUnanswered?.toISOString() ?? null, version: expectedVersion }],
        });
      case 'transient': {
        record('transient', statusFailureClass(verdict.status));
        if (!verdict.maybeRotated) await nothingRotated();
        // Retry-After: 0 (or none) leaves the delay to the declared backoff; a zero delay would not be a retry delay at all.
        const graceRetryMs = verdict.maybeRotated ? graceRetry() : undefined;
        const delay = graceRetryMs ?? (verdict.retryAfterMs ? Math.min(verdict.retryAfterMs, MAX_HONOURED_RETRY_AFTER_MS) : undefined);
        log.warn({ outcome: 'transient', status: verdict.status, cause: verdict.reason, retryAfterMs: delay, graceRetryMs }, 'token endpoint failed; will retry');
        throw ApplicationFailure.create({
          type: ActivityFailure.ProviderUnavailable,
          message: `token endpoint: ${verdict.reason}`,
          nextRetryDelay: delay,
        });
      }
    }
  };
}

/** Form request headers with the client's credentials as HTTP Basic where the provider wants them (also revoke.ts). */
export function tokenRequestHeaders(provider: ProviderConfig): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
    'user-agent': 'extauth',
  };
  if (provider.clientAuth === 'basic') {
    const credentials = `${encodeURIComponent(provider.clientId)}:${encodeURIComponent(provider.clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }
  return headers;
}

/** The refresh_token grant's form (also revoke.ts, which renews a dead access token before GitHub's grant revocation). */
export function tokenRequestBody(provider: ProviderConfig, refreshToken: string): string {
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken });
  if (provider.clientAuth === 'body') {
    form.set('client_id', provider.clientId);
    form.set('client_secret', provider.clientSecret);
  }
  if (provider.scopes?.length) form.set('scope', provider.scopes.join(' '));
  return form.toString();
}

/** A provider that omits refresh_token keeps the old one alive (Google): keep it too, with its expiry. */
function toTokenSet(tokens: ParsedTokens, previous: Pick<LinkRow, 'refreshToken' | 'refreshTokenExpiry'>): TokenSet {
  const inSeconds = (seconds: number | undefined) => (seconds === undefined ? null : new Date(Date.now() + seconds * 1000).toISOString());
  return {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken ?? previous.refreshToken,
    tokenType: tokens.tokenType,
    expiresAt: inSeconds(tokens.expiresIn),
    refreshTokenExpiresAt:
      tokens.refreshToken === undefined ? (previous.refreshTokenExpiry?.toISOString() ?? null) : inSeconds(tokens.refreshTokenExpiresIn),
    extra: { ...tokens.extra, ...(tokens.expiresIn === undefined ? {} : { expires_in: tokens.expiresIn }) },
  };
}

/** Best effort: a marker left set only makes a later refusal's reason mention a possible rotation. */
async function restoreMarker(deps: ActivityDeps, key: LinkKey, expectedVersion: number, marker: ExchangeMarker, log: ActivityDeps['logger']): Promise<void> {
  try {
    await restoreExchangeMarker(deps.pool, key, expectedVersion, marker);
  } catch (err) {
    log.warn({ cause: (err as Error).message }, 'could not clear the sent-exchange marker');
  }
}
