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
    /** The proactive retry plan and a deferred forced refresh: agents were told expiries that count on them. */
    proactiveFailures?: number;
    proactiveRetryAt?: number;
    forceDeferred?: boolean;
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
  /**
   * The fingerprint (core/fingerprint.ts) of a token the provider refused to this agent (HTTP 401). If it is still the
   * current token, the run checks it at the provider and refreshes only if the provider refuses it too; if a newer
   * token exists, that one is served with no provider call.
   */
  rejectedFingerprint?: string;
}

/** refreshNow / requestRefresh: the caller's clock (epoch ms), recorded with the request. Absent in older requests. */
export interface RefreshRequest {
  nowMs?: number;
}

export const FINGERPRINT_PATTERN = /^[0-9a-f]{12}$/;

export const MAX_MIN_VALID_SECONDS = 24 * 3600;
export const MAX_WAIT_SECONDS = 24 * 3600;
/** An agent whose clock is further off than this is refused (its requests would judge freshness wrongly). */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** What is wrong with a getToken request's bounds, if anything: the client checks before sending, the workflow on arrival. */
export function getTokenRequestProblem({
  minValidSeconds,
  waitSeconds = 0,
  rejectedFingerprint,
}: Pick<GetTokenRequest, 'minValidSeconds' | 'waitSeconds' | 'rejectedFingerprint'>): string | undefined {
  if (!Number.isFinite(minValidSeconds) || minValidSeconds < 0 || minValidSeconds > MAX_MIN_VALID_SECONDS) {
    return `minValidSeconds must be between 0 and ${MAX_MIN_VALID_SECONDS}`;
  }
  if (!Number.isFinite(waitSeconds) || waitSeconds < 0 || waitSeconds > MAX_WAIT_SECONDS) {
    return `waitSeconds must be between 0 and ${MAX_WAIT_SECONDS}`;
  }
  if (rejectedFingerprint !== undefined && !(typeof rejectedFingerprint === 'string' && FINGERPRINT_PATTERN.test(rejectedFingerprint))) {
    return 'rejectedFingerprint must be 12 lower-case hex characters (the first 12 of the token\'s SHA-256, as `extauth status` shows)';
  }
  return undefined;
}

export const getTokenUpdate = defineUpdate<TokenGrant, [GetTokenRequest]>('getToken');
/** Forces an exchange even if the token is fresh, and answers with the resulting status. */
export const refreshNowUpdate = defineUpdate<LinkStatus, [RefreshRequest?]>('refreshNow');
/** Status through an update, so that it also works (and loads the link) when no run is open. */
export const describeUpdate = defineUpdate<LinkStatus, []>('describe');
/** `link delete`: `revoke` also revokes the grant at the provider (workflows/revoke-grant.ts). */
export interface DeleteLinkRequest {
  revoke: boolean;
}
/** The row is gone; `revocationWorkflowId`: the workflow revoking the grant, whose result says how it went. */
export interface DeleteLinkResult {
  deleted: true;
  revocationWorkflowId?: string;
}
/** Ends the link: the row deleted, every waiting request answered link_not_found, the run finished. */
export const deleteLinkUpdate = defineUpdate<DeleteLinkResult, [DeleteLinkRequest]>('deleteLink');
export const requestRefreshSignal = defineSignal<[RefreshRequest?]>('requestRefresh');
/** Sent after the user re-authenticated and the row was rewritten: reload it, clear the failure. */
export const relinkedSignal = defineSignal<[]>('relinked');
/** An agent still uses the link (it reads through the cachedToken query, which cannot record that): keep it active. */
export const touchedSignal = defineSignal<[]>('touched');
export const statusQuery = defineQuery<LinkStatus>('status');

/** What the open run holds, for fresh reads without an update: the caller checks expiry with its own clock. */
export interface CachedToken {
  grant: TokenGrant;
  /** The told expiry (workflows/schedule.ts toldExpiry), as in the grant. */
  expiresAt: string | null;
  lifetimeSeconds: number | null;
  /** ISO time after which a client reading this should send `touched` so the run keeps refreshing ahead. */
  touchAfter?: string | null;
  /**
   * The run will not replace this token before `expiresAt` (its refresh would end the token agents hold): asking the
   * update for more life than it has left gets this same token, so a reader takes it while `expiresAt` is ahead.
   */
  firm?: boolean;
}
/** Null whenever only the getToken update may answer: refreshing, not validated, failed, or nothing loaded. */
export const cachedTokenQuery = defineQuery<CachedToken | null>('cachedToken');
