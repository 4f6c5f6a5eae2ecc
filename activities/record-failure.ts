import type { LinkKey, LinkSnapshot } from '../core/types.js';
import { getLink, writeRefreshFailure } from '../store/links.js';
import type { ActivityDeps } from './deps.js';
import { linkNotFound, requireProvider } from './lookup.js';
import { applyPendingRotation } from './pending-rotation.js';
import { toSnapshot } from './snapshot.js';

export interface RecordFailureInput extends LinkKey {
  expectedVersion: number;
  /** The provider's refusal, e.g. "bad_refresh_token: The refresh token passed is incorrect or expired. (HTTP 200)". */
  providerError: string;
  /** When an earlier exchange request went out and its answer was never recorded (ISO), if one did. */
  unansweredSince?: string | null;
}

export interface RecordFailureResult {
  outcome: 'recorded' | 'adopted';
  link: LinkSnapshot;
}

/**
 * After a permanent refusal: if the row's refresh token changed meanwhile, someone else refreshed or
 * re-linked, so adopt their tokens. Otherwise record why and clear the dead refresh token (compare-and-set).
 */
export function makeRecordRefreshFailure(deps: ActivityDeps) {
  return async function recordRefreshFailure(input: RecordFailureInput): Promise<RecordFailureResult> {
    const provider = requireProvider(deps, input.providerId);
    const log = deps.logger.child({ provider: input.providerId, link: input.userId, step: 'record-failure' });
    for (;;) {
      const row = await getLink(deps.pool, input, deps.cipher);
      if (!row) throw linkNotFound(input);
      if (row.tokenVersion !== input.expectedVersion) {
        // Either our own failure write from a lost earlier attempt, or a newer token from someone else.
        const ours = row.refreshToken === '' && row.failureReason !== '';
        if (!ours) log.warn({ outcome: 'adopted', rowVersion: row.tokenVersion }, 'refresh was refused but the row changed meanwhile; adopting it');
        return { outcome: ours ? 'recorded' : 'adopted', link: toSnapshot(row, provider, deps) };
      }
      // A journaled answer for this very version: the refusal met the token that answer rotated. Apply it, not the failure.
      if (row.pendingRotation) {
        const applied = await applyPendingRotation(deps, input, row.pendingRotation, log);
        return { outcome: 'adopted', link: toSnapshot(applied, provider, deps) };
      }
      const reason = describeFailure(provider.id, input.providerError, {
        unansweredAt: input.unansweredSince ? new Date(input.unansweredSince) : null,
        refreshTokenExpiry: row.refreshTokenExpiry,
        now: new Date(),
      });
      const written = await writeRefreshFailure(deps.pool, input, input.expectedVersion, reason, deps.cipher);
      if (written) {
        log.warn({ outcome: 'reauth_required', reason }, 'refresh token refused; link needs re-authentication');
        return { outcome: 'recorded', link: toSnapshot(written, provider, deps) };
      }
      // Lost a race with another writer between the read and the write: read again.
    }
  };
}

/** The provider's clock may run ahead of ours, and our expiry is counted from when its answer arrived. */
export const REFRESH_EXPIRY_SKEW_MS = 60_000;

export function describeFailure(
  providerId: string,
  providerError: string,
  facts: { unansweredAt: Date | null; refreshTokenExpiry: Date | null; now: Date },
): string {
  const { unansweredAt, refreshTokenExpiry: expiry, now } = facts;
  const expired = expiry !== null && now.getTime() >= expiry.getTime() - REFRESH_EXPIRY_SKEW_MS;
  const base = expired
    ? `refresh token expired at ${expiry.toISOString()}; the ${providerId} provider answered ${providerError}; the user must re-authenticate`
    : `refreshing the ${providerId} token failed with: ${providerError}; the user must re-authenticate`;
  // A request sent after the token expired cannot have rotated it.
  if (!unansweredAt || (expired && unansweredAt.getTime() >= expiry.getTime())) return base;
  return `${base}. An earlier exchange request was sent at ${unansweredAt.toISOString()} and its answer was never recorded (no answer, or the worker stopped), so the provider may have rotated the refresh token then`;
}
