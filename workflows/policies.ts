// Timeouts and retry policies of the refresh activities, declared once. Pure data: bundled into workflows.
import type { ActivityOptions } from '@temporalio/workflow';
import { PERMANENT_ACTIVITY_FAILURES } from '../core/failures.js';

export interface Tuning {
  /** Start-to-close of one exchange attempt; its HTTP deadline is derived strictly below it. */
  exchangeAttemptMs: number;
  /** Total time the exchange is retried before the agent hears provider_unavailable. */
  exchangeBudgetMs: number;
  validateAttemptMs: number;
  /** Total time validation is retried; the tokens are saved before it starts. */
  validateBudgetMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Attempts on which validation's 401 is retried (GitHub replication lag). */
  unauthorizedAttempts: number;
  /** A run with no request for this long finishes; the next request starts a fresh one. */
  idleFinishMs: number;
  /** A run kept open by its schedule continues as new past this many history events (or when the server suggests it). */
  maxHistoryEvents: number;
  /**
   * The run also plans keep-alive refreshes, and so stays open on their timer. Off: the keep-alive sweep covers idle
   * links. On only as the control of test/keep-alive.test.ts ("keep-alive at scale"): the plan before 4 December 2026.
   */
  runKeepAlive: boolean;
}

export const DEFAULT_TUNING: Tuning = {
  exchangeAttemptMs: 15_000,
  exchangeBudgetMs: 60_000,
  validateAttemptMs: 10_000,
  validateBudgetMs: 30_000,
  retryInitialMs: 250,
  retryMaxMs: 5_000,
  unauthorizedAttempts: 5,
  idleFinishMs: 10 * 60_000,
  maxHistoryEvents: 2_000,
  runKeepAlive: false,
};

/** The HTTP call must give up before Temporal would start another attempt that may rotate the token again. */
export function httpDeadlineMs(attemptMs: number): number {
  return Math.max(100, attemptMs - Math.min(2_000, Math.floor(attemptMs / 5)));
}

export function activityOptions(t: Tuning) {
  // A maximum below the initial interval is invalid for Temporal and would fail every workflow task.
  const backoff = { initialInterval: t.retryInitialMs, backoffCoefficient: 2, maximumInterval: Math.max(t.retryMaxMs, t.retryInitialMs) };
  return {
    // Normal activities (never local: docs/versioning.md): the exchange's result (the rotated tokens) is recorded by
    // Temporal the moment it completes, before persist starts.
    exchange: {
      startToCloseTimeout: t.exchangeAttemptMs,
      scheduleToCloseTimeout: t.exchangeBudgetMs,
      retry: { ...backoff, nonRetryableErrorTypes: PERMANENT_ACTIVITY_FAILURES },
      summary: 'exchange refresh token',
    } satisfies ActivityOptions,
    // Compare-and-set on the version read: safe to run again. No attempt limit: database outages are waited out.
    persist: {
      startToCloseTimeout: 10_000,
      retry: { ...backoff, nonRetryableErrorTypes: PERMANENT_ACTIVITY_FAILURES },
      summary: 'persist rotated tokens',
    } satisfies ActivityOptions,
    validate: {
      startToCloseTimeout: t.validateAttemptMs,
      scheduleToCloseTimeout: t.validateBudgetMs,
      retry: { ...backoff, nonRetryableErrorTypes: PERMANENT_ACTIVITY_FAILURES },
      summary: 'validate access token',
    } satisfies ActivityOptions,
    load: {
      startToCloseTimeout: 10_000,
      scheduleToCloseTimeout: 60_000,
      retry: { ...backoff, nonRetryableErrorTypes: PERMANENT_ACTIVITY_FAILURES },
      summary: 'load link',
    } satisfies ActivityOptions,
    // `link delete`: the read is bounded like the load (the operator waits for it); the delete is compare-and-set on the
    // version read, safe to run again, and waits out database outages like persist.
    readForDelete: {
      startToCloseTimeout: 10_000,
      scheduleToCloseTimeout: 60_000,
      retry: { ...backoff, nonRetryableErrorTypes: PERMANENT_ACTIVITY_FAILURES },
      summary: 'read link for delete',
    } satisfies ActivityOptions,
    deleteLink: {
      startToCloseTimeout: 10_000,
      retry: { ...backoff, nonRetryableErrorTypes: PERMANENT_ACTIVITY_FAILURES },
      summary: 'delete link row',
    } satisfies ActivityOptions,
    recordFailure: {
      startToCloseTimeout: 10_000,
      retry: { ...backoff, nonRetryableErrorTypes: PERMANENT_ACTIVITY_FAILURES },
      summary: 'record refresh failure',
    } satisfies ActivityOptions,
  };
}

/**
 * Webhook delivery (workflows/webhook-delivery.ts): a receiver down for hours or a weekend still gets every event.
 * Backoff 1 s doubling to 30 s, so a receiver back after an outage hears within 30 s; attempts for 3 days, then the
 * event counts as failed (logged, extauth_webhook_deliveries_total{outcome="failed"}). A 4xx is not retried.
 */
export const WEBHOOK_DELIVERY_OPTIONS = {
  startToCloseTimeout: 30_000,
  scheduleToCloseTimeout: 3 * 24 * 3600_000,
  retry: { initialInterval: 1_000, backoffCoefficient: 2, maximumInterval: 30_000, nonRetryableErrorTypes: ['WebhookFailed'] },
  summary: 'deliver webhook',
} satisfies ActivityOptions;

/** One revocation attempt (workflows/revoke-grant.ts); its HTTP deadline is derived below it. */
export const REVOKE_ATTEMPT_MS = 30_000;

/** Revocation: transient failures retried with backoff for a week (the tokens are already deleted everywhere else); refusals never. */
export const revokeGrantOptions = {
  startToCloseTimeout: REVOKE_ATTEMPT_MS,
  scheduleToCloseTimeout: 7 * 86_400_000,
  retry: { initialInterval: 1_000, backoffCoefficient: 2, maximumInterval: 10 * 60_000, nonRetryableErrorTypes: PERMANENT_ACTIVITY_FAILURES },
  summary: 'revoke grant at the provider',
} satisfies ActivityOptions;
