// The SQL for external_auth_links, nothing else.
import type { Pool } from 'pg';
import type { LinkKey, TokenSet } from '../core/types.js';

export interface LinkRow {
  providerId: string;
  userId: string;
  accessToken: string;
  refreshToken: string;
  expiry: Date | null;
  extra: Record<string, unknown> | null;
  failureReason: string;
  tokenVersion: number;
  lastRefreshedAt: Date | null;
  exchangeUnansweredAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const COLUMNS = `provider_id, user_id, oauth_access_token, oauth_refresh_token, oauth_expiry, oauth_extra,
  oauth_refresh_failure_reason, token_version, last_refreshed_at, exchange_unanswered_at, created_at, updated_at`;

function toRow(r: Record<string, any>): LinkRow {
  return {
    providerId: r.provider_id,
    userId: r.user_id,
    accessToken: r.oauth_access_token,
    refreshToken: r.oauth_refresh_token,
    expiry: r.oauth_expiry,
    extra: r.oauth_extra,
    failureReason: r.oauth_refresh_failure_reason,
    tokenVersion: Number(r.token_version),
    lastRefreshedAt: r.last_refreshed_at,
    exchangeUnansweredAt: r.exchange_unanswered_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export async function getLink(pool: Pool, key: LinkKey): Promise<LinkRow | undefined> {
  const { rows } = await pool.query(`SELECT ${COLUMNS} FROM external_auth_links WHERE provider_id = $1 AND user_id = $2`, [
    key.providerId,
    key.userId,
  ]);
  return rows[0] ? toRow(rows[0]) : undefined;
}

/** What the OAuth callback does: store fresh tokens, clear any failure, bump the version. */
export async function putLink(pool: Pool, key: LinkKey, tokens: TokenSet): Promise<LinkRow> {
  const { rows } = await pool.query(
    `INSERT INTO external_auth_links AS l (provider_id, user_id, oauth_access_token, oauth_refresh_token, oauth_expiry, oauth_extra)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (provider_id, user_id) DO UPDATE SET
       oauth_access_token = EXCLUDED.oauth_access_token, oauth_refresh_token = EXCLUDED.oauth_refresh_token,
       oauth_expiry = EXCLUDED.oauth_expiry, oauth_extra = EXCLUDED.oauth_extra,
       oauth_refresh_failure_reason = '', exchange_unanswered_at = NULL,
       token_version = l.token_version + 1, updated_at = now()
     RETURNING ${COLUMNS}`,
    [key.providerId, key.userId, tokens.accessToken, tokens.refreshToken, tokens.expiresAt, tokens.extra],
  );
  return toRow(rows[0]);
}

/** Compare-and-set write of rotated tokens: only if nobody wrote the row since `expectedVersion`. */
export async function writeRotatedTokens(pool: Pool, key: LinkKey, expectedVersion: number, tokens: TokenSet): Promise<LinkRow | undefined> {
  const { rows } = await pool.query(
    `UPDATE external_auth_links SET
       oauth_access_token = $4, oauth_refresh_token = $5, oauth_expiry = $6, oauth_extra = $7,
       oauth_refresh_failure_reason = '', exchange_unanswered_at = NULL,
       token_version = token_version + 1, last_refreshed_at = now(), updated_at = now()
     WHERE provider_id = $1 AND user_id = $2 AND token_version = $3
     RETURNING ${COLUMNS}`,
    [key.providerId, key.userId, expectedVersion, tokens.accessToken, tokens.refreshToken, tokens.expiresAt, tokens.extra],
  );
  return rows[0] ? toRow(rows[0]) : undefined;
}

/** Compare-and-set write of a permanent failure: clears the dead refresh token and records why. */
export async function writeRefreshFailure(pool: Pool, key: LinkKey, expectedVersion: number, reason: string): Promise<LinkRow | undefined> {
  const { rows } = await pool.query(
    `UPDATE external_auth_links SET
       oauth_refresh_token = '', oauth_refresh_failure_reason = $4,
       token_version = token_version + 1, updated_at = now()
     WHERE provider_id = $1 AND user_id = $2 AND token_version = $3
     RETURNING ${COLUMNS}`,
    [key.providerId, key.userId, expectedVersion, reason],
  );
  return rows[0] ? toRow(rows[0]) : undefined;
}

/** Notes that an exchange was sent and got no answer; does not bump the version (tokens unchanged). */
export async function markExchangeUnanswered(pool: Pool, key: LinkKey, expectedVersion: number): Promise<void> {
  await pool.query(
    `UPDATE external_auth_links SET exchange_unanswered_at = now()
     WHERE provider_id = $1 AND user_id = $2 AND token_version = $3`,
    [key.providerId, key.userId, expectedVersion],
  );
}
