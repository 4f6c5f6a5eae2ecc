// Update, signal and query definitions shared by the workflow and its clients. No I/O imports.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { LinkKey, LinkStatus, TokenGrant } from '../core/types.js';
import type { Tuning } from './policies.js';

export interface LinkWorkflowInput extends LinkKey {
  /** Overrides of the default timeouts and budgets (tests shorten them). */
  tuning?: Partial<Tuning>;
  /** Carried over continue-as-new so operators keep seeing totals. */
  carried?: {
    counters?: Partial<LinkStatus['counters']>;
    validation?: LinkStatus['validation'];
    /** Epoch ms of the last request, so a continued run keeps the link's activity window. */
    lastTouched?: number;
  };
}

export interface GetTokenRequest {
  /** The token must stay valid at least this long; capped to half the token's own lifetime. */
  minValidSeconds: number;
  /** When the link needs re-authentication, wait this long for the user to re-link instead of failing at once. */
  waitSeconds?: number;
  /**
   * The agent's clock (epoch ms) when it asked: freshness is judged with it, so the decision is part of history
   * and a replay cannot judge otherwise. Absent in requests recorded before it existed (the workflow clock is used).
   */
  nowMs?: number;
}

export const MAX_MIN_VALID_SECONDS = 24 * 3600;
export const MAX_WAIT_SECONDS = 24 * 3600;
/** An agent whose clock is further off than this is refused (its requests would judge freshness wrongly). */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** What is wrong with a getToken request's bounds, if anything: the client checks before sending, the workflow on arrival. */
export function getTokenRequestProblem({ minValidSeconds, waitSeconds = 0 }: Pick<GetTokenRequest, 'minValidSeconds' | 'waitSeconds'>): string | undefined {
  if (!Number.isFinite(minValidSeconds) || minValidSeconds < 0 || minValidSeconds > MAX_MIN_VALID_SECONDS) {
    return `minValidSeconds must be between 0 and ${MAX_MIN_VALID_SECONDS}`;
  }
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0 || waitSeconds > MAX_WAIT_SECONDS) {
    return `waitSeconds must be between 0 and ${MAX_WAIT_SECONDS}`;
  }
  return undefined;
}

export const getTokenUpdate = defineUpdate<TokenGrant, [GetTokenRequest]>('getToken');
/** Forces an exchange even if the token is fresh, and answers with the resulting status. */
export const refreshNowUpdate = defineUpdate<LinkStatus, []>('refreshNow');
/** Status through an update, so that it also works (and loads the link) when no run is open. */
export const describeUpdate = defineUpdate<LinkStatus, []>('describe');
export const requestRefreshSignal = defineSignal<[]>('requestRefresh');
/** Sent after the user re-authenticated and the row was rewritten: reload it, clear the failure. */
export const relinkedSignal = defineSignal<[]>('relinked');
/** An agent still uses the link (it reads through the cachedToken query, which cannot record that): keep it active. */
export const touchedSignal = defineSignal<[]>('touched');
export const statusQuery = defineQuery<LinkStatus>('status');

/** What the open run holds, for fresh reads without an update: the caller checks expiry with its own clock. */
export interface CachedToken {
  grant: TokenGrant;
  expiresAt: string | null;
  lifetimeSeconds: number | null;
  /** ISO time after which a client reading this should send `touched` so the run keeps refreshing ahead. */
  touchAfter?: string | null;
}
/** Null whenever only the getToken update may answer: refreshing, not validated, failed, or nothing loaded. */
export const cachedTokenQuery = defineQuery<CachedToken | null>('cachedToken');
