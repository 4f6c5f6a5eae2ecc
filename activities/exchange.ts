import { ApplicationFailure, Context } from '@temporalio/activity';
import { ActivityFailure } from '../core/failures.js';
import type { LinkKey, LinkSnapshot, SealedTokenSet, TokenSet } from '../core/types.js';
import { classifyTokenAnswer, type ParsedTokens } from '../providers/classify.js';
import type { ProviderConfig } from '../providers/config.js';
import { getLink, markExchangeSent, restoreExchangeMarker, writePendingRotation, type ExchangeMarker, type LinkRow } from '../store/links.js';
import type { ActivityDeps } from './deps.js';
import { callProvider, HttpCallError } from './http.js';
import { callRecorder, statusFailureClass } from './instrument.js';
import { graceRetryDelayMs } from './reuse-grace.js';
import { sealTokenSet } from './sealed-tokens.js';
import { callingRun, linkNotFound, requireProvider } from './lookup.js';
import { readCurrentRow } from './load.js';
import { toSnapshot } from './snapshot.js';
import { journalUsed } from './pending-rotation.js';
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
    const log = deps.logger.child({ provider: input.providerId, link: input.userId, step: 'exchange', attempt: Context.current().info.attempt });
    let row: LinkRow | undefined;
    if (input.expectedVersion === undefined) {
      row = await readCurrentRow(deps, input);
      const link = toSnapshot(row, provider, deps);
      // A journaled answer makes the row's refresh token (and, at GitHub, its access token) dead: never served as current.
      if (!row.pendingRotation && (!input.firstStep || !refreshDueOnFirstStep(input, input.firstStep, link, Date.now()))) return { kind: 'current', link };
    } else {
      row = (await getLink(deps.pool, input, deps.cipher)) ?? undefined;
      if (!row) throw linkNotFound(input);
      if (row.tokenVersion !== input.expectedVersion || row.refreshToken === '') return { kind: 'link_changed' };
    }
    const expectedVersion = row.tokenVersion;
    // An earlier attempt (or run) got the provider's answer for this version and journaled it, and was killed before
    // Temporal recorded it: that answer is this exchange's result. The provider is not asked again with a dead token.
    if (row.pendingRotation) {
      journalUsed(deps, input, log, row.pendingRotation, 'returned');
      return { kind: 'exchanged', tokens: sealTokenSet(deps.sealer, input, row.pendingRotation.tokens), version: expectedVersion };
    }

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
      case 'tokens': {
        record('exchanged');
        log.info({ outcome: 'exchanged', status: answer.status }, 'refresh token exchanged');
        const tokens = toTokenSet(verdict.tokens, row);
        if ((await journal(deps, input, expectedVersion, tokens, log)) === 'row_changed') return { kind: 'link_changed' };
        return { kind: 'exchanged', tokens: sealTokenSet(deps.sealer, input, tokens), version: expectedVersion };
      }
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

/**
 * The rotation journal's write, right after the provider answered: from here on a killed worker loses nothing (the
 * retry, or the next run, finds the answer on the row). `row_changed`: someone rewrote the row since the exchange read
 * it (a re-link, a delete); as persist would, the run adopts the stored row and these tokens are dropped. A failed
 * write (Postgres unreachable) does not fail the exchange: its answer still goes to Temporal, as without the journal.
 */
async function journal(deps: ActivityDeps, key: LinkKey, version: number, tokens: TokenSet, log: ActivityDeps['logger']): Promise<'journaled' | 'row_changed' | 'not_journaled'> {
  const count = (outcome: 'written' | 'not_written') => deps.metrics.rotationJournal.inc({ provider: key.providerId, outcome });
  try {
    if (await writePendingRotation(deps.pool, key, version, tokens, deps.cipher)) {
      count('written');
      return 'journaled';
    }
  } catch (err) {
    count('not_written');
    log.warn({ outcome: 'not_journaled', cause: (err as Error).message }, 'could not journal the exchange answer on the row; returning it to Temporal only');
    return 'not_journaled';
  }
  log.warn({ outcome: 'link_changed', exchangedVersion: version }, 'the provider answered but the link was rewritten meanwhile (re-link?); adopting the stored tokens instead');
  return 'row_changed';
}

/** Best effort: a marker left set only makes a later refusal's reason mention a possible rotation. */
async function restoreMarker(deps: ActivityDeps, key: LinkKey, expectedVersion: number, marker: ExchangeMarker, log: ActivityDeps['logger']): Promise<void> {
  try {
    await restoreExchangeMarker(deps.pool, key, expectedVersion, marker);
  } catch (err) {
    log.warn({ cause: (err as Error).message }, 'could not clear the sent-exchange marker');
  }
}
