// Failure type names shared by activities, workflow and client. Imported by workflow code: no I/O here.

/** Activity failure types. Those marked permanent are listed in nonRetryableErrorTypes. */
export const ActivityFailure = {
  /** The provider refused the refresh token or the client (invalid_grant, bad_refresh_token, ...). Permanent. */
  RefreshRejected: 'RefreshRejected',
  /** 5xx, 429, timeouts, connection errors, unreadable answers. Retried with backoff. */
  ProviderUnavailable: 'ProviderUnavailable',
  /** The provider's validation endpoint answered 401; retried briefly (replication lag). */
  AccessTokenRejected: 'AccessTokenRejected',
  /** No row for (provider, user). Permanent. */
  LinkNotFound: 'LinkNotFound',
  /** The provider id is not in the providers file. Permanent. */
  UnknownProvider: 'UnknownProvider',
  /** The provider refused to revoke the grant (client auth, unknown token type, 4xx): retrying cannot help. Permanent. */
  RevocationRefused: 'RevocationRefused',
  /** `--revoke` for a provider without a revocationUrl. Permanent. */
  RevocationUnsupported: 'RevocationUnsupported',
  /** A stored token is encrypted with a database key that is not configured (or does not decrypt). Thrown non-retryable. */
  TokenKeyUnavailable: 'TokenKeyUnavailable',
} as const;

export const PERMANENT_ACTIVITY_FAILURES = [
  ActivityFailure.RefreshRejected,
  ActivityFailure.LinkNotFound,
  ActivityFailure.UnknownProvider,
  ActivityFailure.RevocationRefused,
  ActivityFailure.RevocationUnsupported,
];

/** What an agent's request can fail with: the update failure's type, and the CLI's exit code. */
export const AgentErrorCode = {
  reauth_required: 3,
  provider_unavailable: 4,
  link_not_found: 5,
  unknown_provider: 5,
  invalid_request: 2,
  /** The agent's key is unknown, revoked or expired, or not scoped to the link it asked for. */
  forbidden: 6,
} as const;
export type AgentErrorCode = keyof typeof AgentErrorCode;

export function isAgentErrorCode(value: unknown): value is AgentErrorCode {
  return typeof value === 'string' && Object.hasOwn(AgentErrorCode, value);
}
