import type { LinkStatus } from '../core/types.js';

/** Human-readable status: fingerprints only, never a token. */
export function formatStatus(s: LinkStatus): string {
  const c = s.counters;
  return [
    `link        ${s.providerId}/${s.userId}`,
    `state       ${s.state}${s.validation !== 'valid' ? ` (validation: ${s.validation})` : ''}`,
    `expires     ${s.expiresAt ?? 'unknown'}`,
    `refresh exp ${s.refreshTokenExpiresAt ?? 'unknown'}`,
    `refreshed   ${s.lastRefreshedAt ?? 'never by extauth'}`,
    `failure     ${s.failureReason || '-'}`,
    `last error  ${s.lastError || '-'}`,
    `tokens      access ${s.accessTokenFingerprint ?? '-'}  refresh ${s.refreshTokenFingerprint ?? '-'}  (SHA-256 prefixes)`,
    `version     ${s.tokenVersion ?? '-'}`,
    `counters    requests=${c.requests} refreshes=${c.refreshes} exchanges=${c.exchanges} validations=${c.validations} adopted=${c.adoptedFromRow} failed=${c.failedRequests}`,
  ].join('\n');
}
