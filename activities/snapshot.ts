import { fingerprint } from '../core/fingerprint.js';
import type { LinkSnapshot } from '../core/types.js';
import type { ProviderConfig } from '../providers/config.js';
import type { LinkRow } from '../store/links.js';

/** What the workflow may keep of a row: the access token it hands out, fingerprints of the rest. */
export function toSnapshot(row: LinkRow, provider: ProviderConfig): LinkSnapshot {
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
  };
}
