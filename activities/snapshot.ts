import { fingerprint } from '../core/fingerprint.js';
import type { LinkSnapshot } from '../core/types.js';
import type { ProviderConfig } from '../providers/config.js';
import type { LinkRow } from '../store/links.js';
import type { ActivityDeps } from './deps.js';

/**
 * What the workflow may keep of a row: the access token it hands out, fingerprints of the rest; and whether this
 * worker has webhook endpoints, so that whichever activity a run first hears from tells it to announce link events.
 */
export function toSnapshot(row: LinkRow, provider: ProviderConfig, deps: Pick<ActivityDeps, 'webhooks'>): LinkSnapshot {
  const lifetime = Number(row.extra?.expires_in);
  return {
    providerType: provider.type,
    version: row.tokenVersion,
    accessToken: row.accessToken,
    tokenType: typeof row.extra?.token_type === 'string' ? row.extra.token_type : 'bearer',
    expiresAt: row.expiry ? row.expiry.toISOString() : null,
    lifetimeSeconds: Number.isFinite(lifetime) && lifetime > 0 ? lifetime : null,
    hasRefreshToken: row.refreshToken !== '',
    accessTokenFingerprint: fingerprint(row.accessToken),
    refreshTokenFingerprint: row.refreshToken ? fingerprint(row.refreshToken) : null,
    failureReason: row.failureReason,
    lastRefreshedAt: row.lastRefreshedAt ? row.lastRefreshedAt.toISOString() : null,
    refreshTokenExpiresAt: row.refreshTokenExpiry ? row.refreshTokenExpiry.toISOString() : null,
    schedule: {
      refreshAheadSeconds: provider.refreshAheadSeconds,
      activeWindowSeconds: provider.activeWindowSeconds,
      keepAliveSeconds: provider.keepAliveSeconds,
      refreshTokenWarnSeconds: provider.refreshTokenWarnSeconds,
      refreshEndsOldAccessToken: provider.refreshEndsOldAccessToken,
    },
    ...(row.reauthRequiredSince ? { reauthRequiredSince: row.reauthRequiredSince.toISOString() } : {}),
    ...(deps.webhooks.names().length > 0 ? { webhooks: true } : {}),
  };
}
