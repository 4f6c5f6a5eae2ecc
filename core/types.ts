// Shapes that cross the boundaries between client, workflow and activities. No I/O here.
import type { ProviderType } from './git.js';

export interface LinkKey {
  providerId: string;
  userId: string;
}

/** Tokens as a provider issued them; `expiresAt` is an ISO time or null when the provider gave no lifetime. */
export interface TokenSet {
  accessToken: string;
  refreshToken: string;
  tokenType: string;
  expiresAt: string | null;
  /**
   * When the refresh token itself expires (ISO), null when unknown. Absent in exchange results recorded
   * before the column existed: read as unknown.
   */
  refreshTokenExpiresAt?: string | null;
  extra: Record<string, unknown>;
}

/**
 * A TokenSet as workflow history holds it (the exchange's result, persist's input): the access token readable,
 * as agents are handed it anyway; the refresh token and the provider's other fields (which may hold an id_token)
 * sealed with the worker key (codec/seal.ts), which clients do not hold. Workflow code passes it through unopened.
 */
export interface SealedTokenSet {
  accessToken: string;
  tokenType: string;
  expiresAt: string | null;
  refreshTokenExpiresAt: string | null;
  /** `{ refreshToken, extra }` of the TokenSet, sealed. */
  sealed: string;
}

/** What the workflow keeps of a row: never the refresh token itself. */
export interface LinkSnapshot {
  providerType: ProviderType;
  version: number;
  accessToken: string;
  tokenType: string;
  expiresAt: string | null;
  /** Seconds the current access token was issued for, when known; caps `minValidSeconds`. */
  lifetimeSeconds: number | null;
  hasRefreshToken: boolean;
  accessTokenFingerprint: string;
  refreshTokenFingerprint: string | null;
  failureReason: string;
  lastRefreshedAt: string | null;
  /** When the refresh token itself expires (the provider's `refresh_token_expires_in`), when known. */
  refreshTokenExpiresAt?: string | null;
  /** The provider's refresh schedule. Absent in snapshots recorded before proactive refresh existed. */
  schedule?: RefreshSchedule;
  /** The worker has webhook endpoints (config/webhooks.ts): the run announces link events. Set on every snapshot an activity returns; absent: none. */
  webhooks?: boolean;
  /** The link entered reauth_required then (ISO) and its recovery is not announced yet; absent: nothing to announce. */
  reauthRequiredSince?: string;
}

/** From the provider's config, read with each load so a running workflow follows config changes. */
export interface RefreshSchedule {
  refreshAheadSeconds: number;
  activeWindowSeconds: number;
  keepAliveSeconds: number;
  refreshTokenWarnSeconds: number;
  /**
   * A refresh ends the previous access token: the token's told expiry is the run's next planned refresh. Absent in
   * snapshots recorded before it existed: read as false (those runs told the provider's expiry).
   */
  refreshEndsOldAccessToken?: boolean;
}

/** `refresh_expiring`: usable, but the refresh token itself expires within the provider's warning window. */
export type LinkState = 'ok' | 'refreshing' | 'degraded' | 'refresh_expiring' | 'reauth_required';
export type Validation = 'valid' | 'unvalidated' | 'rejected';

/** The answer an agent gets. */
export interface TokenGrant {
  accessToken: string;
  tokenType: string;
  expiresAt: string | null;
  /** Git over HTTPS credentials for this token, mapped per provider type. */
  username: string;
  password: string;
}

export interface LinkCounters {
  requests: number;
  refreshes: number;
  exchanges: number;
  validations: number;
  adoptedFromRow: number;
  failedRequests: number;
  /** Refreshes the run started on its own (ahead of expiry or keep-alive), included in `refreshes`. */
  proactiveRefreshes: number;
}

/** What operators see: state and fingerprints, never a token. */
export interface LinkStatus {
  providerId: string;
  userId: string;
  state: LinkState;
  validation: Validation;
  tokenVersion: number | null;
  expiresAt: string | null;
  failureReason: string;
  lastError: string;
  lastRefreshedAt: string | null;
  accessTokenFingerprint: string | null;
  refreshTokenFingerprint: string | null;
  /** When the refresh token itself expires, when known. */
  refreshTokenExpiresAt: string | null;
  /** When the run will refresh on its own next (proactive or keep-alive), if it will. */
  nextProactiveRefreshAt: string | null;
  /** Agents waiting for the user to re-authenticate (`token --wait`). */
  waitingForRelink: number;
  counters: LinkCounters;
}
