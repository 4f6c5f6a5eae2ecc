// The SQL for external_auth_links, nothing else.
import type { Pool } from 'pg';
import type { LinkKey, TokenSet } from '../core/types.js';
import { openStoredToken, plaintextRefused, sealToken, type StoredToken, type TokenCipher } from './token-cipher.js';

export interface LinkRow {
  providerId: string;
  userId: string;
  accessToken: string;
  refreshToken: string;
  expiry: Date | null;
  /** When the refresh token itself expires; null when unknown. */
  refreshTokenExpiry: Date | null;
  extra: Record<string, unknown> | null;
  failureReason: string;
  tokenVersion: number;
  lastRefreshedAt: Date | null;
  exchangeUnansweredAt: Date | null;
  /** The workflow run that sent that exchange; null for markers written before this column existed. */
  exchangeRunId: string | null;
  createdAt: Date;
  updatedAt: Date;
  /** Id of the database key each token is encrypted with at rest; null: stored in plaintext. */
  accessTokenKeyId: string | null;
  refreshTokenKeyId: string | null;
  /** Id of the database key oauth_extra is encrypted with; null: stored in plaintext (or there is none). */
  extraKeyId: string | null;
  /** When the grant was refused, until the recovery after a re-link is announced (link.recovered); null otherwise. */
  reauthRequiredSince: Date | null;
  /**
   * The rotation journal: the provider's answer to the exchange of this version's refresh token, written before the
   * exchange returned and not yet persisted. Set only while the row still holds that version (a journal left over from
   * an older version is never read); the row's own refresh token is then dead at a provider without a grace window.
   */
  pendingRotation: PendingRotation | null;
}

/** An exchange's answer journaled on the row (writePendingRotation). */
export interface PendingRotation {
  tokens: TokenSet;
  /** The token_version whose refresh token was exchanged. */
  version: number;
  at: Date;
}

const COLUMNS = `provider_id, user_id, oauth_access_token, oauth_refresh_token, oauth_expiry, oauth_extra,
  oauth_refresh_failure_reason, token_version, last_refreshed_at, exchange_unanswered_at, exchange_run_id, created_at, updated_at,
  oauth_access_token_key_id, oauth_refresh_token_key_id, oauth_refresh_token_expiry, oauth_extra_key_id, reauth_required_since,
  pending_rotation, pending_rotation_key_id, pending_rotation_version, pending_rotation_at`;

/** Every write that bumps token_version (or rewrites the tokens) clears the journal in the same statement. */
const CLEAR_PENDING_ROTATION = 'pending_rotation = NULL, pending_rotation_key_id = NULL, pending_rotation_version = NULL, pending_rotation_at = NULL';

/** The encrypted columns. oauth_extra holds the rest of the provider's answer, id_token included. */
type TokenColumn = 'oauth_access_token' | 'oauth_refresh_token' | 'oauth_extra' | 'pending_rotation';

/** Associated data of an encrypted column: binds the ciphertext to its row and column. */
export function tokenContext(column: TokenColumn, key: LinkKey): string {
  return JSON.stringify([column, key.providerId, key.userId]);
}

function readToken(r: Record<string, any>, column: 'oauth_access_token' | 'oauth_refresh_token', cipher: TokenCipher | undefined): string {
  const key = { providerId: r.provider_id, userId: r.user_id };
  const what = `the ${column === 'oauth_access_token' ? 'access' : 'refresh'} token of link ${key.providerId}/${key.userId}`;
  return openStoredToken({ value: r[column], keyId: r[`${column}_key_id`] }, tokenContext(column, key), what, cipher);
}

/**
 * oauth_extra as stored: a JSON object (plaintext, key id null), a JSON string of ciphertext (key id set), or null.
 * `json` is the jsonb value exactly as Postgres returns it.
 */
export interface StoredExtra {
  json: unknown;
  keyId: string | null;
}

function extraWhat(key: LinkKey): string {
  return `the extra token fields (oauth_extra) of link ${key.providerId}/${key.userId}`;
}

/** The extra fields as the database should hold them: sealed when a cipher is configured; null stays null. */
export function sealExtra(key: LinkKey, extra: Record<string, unknown> | null | undefined, cipher: TokenCipher | undefined): StoredExtra {
  if (extra === null || extra === undefined) return { json: null, keyId: null };
  if (!cipher) return { json: extra, keyId: null };
  const sealed = cipher.seal(JSON.stringify(extra), tokenContext('oauth_extra', key));
  return { json: sealed.value, keyId: sealed.keyId };
}

/** The extra fields of a stored row: plaintext (refused in strict mode) or decrypted. */
export function openExtra(key: LinkKey, stored: StoredExtra, cipher: TokenCipher | undefined): Record<string, unknown> | null {
  if (stored.json === null || stored.json === undefined) return null;
  if (stored.keyId === null) {
    if (cipher?.rejectPlaintext) throw plaintextRefused(extraWhat(key));
    return stored.json as Record<string, unknown>;
  }
  const text = openStoredToken({ value: String(stored.json), keyId: stored.keyId }, tokenContext('oauth_extra', key), extraWhat(key), cipher);
  return JSON.parse(text) as Record<string, unknown>;
}

/** A jsonb parameter: node-pg would send a JS string as-is, which Postgres cannot parse as JSON. */
export const jsonbParam = (json: unknown): string | null => (json === null || json === undefined ? null : JSON.stringify(json));

/** The token columns and oauth_extra as the database should hold them: sealed when a cipher is configured. */
function sealTokens(key: LinkKey, tokens: { accessToken: string; refreshToken: string; extra?: Record<string, unknown> | null }, cipher: TokenCipher | undefined) {
  return {
    access: sealToken(tokens.accessToken, tokenContext('oauth_access_token', key), cipher),
    refresh: sealToken(tokens.refreshToken, tokenContext('oauth_refresh_token', key), cipher),
    extra: sealExtra(key, tokens.extra, cipher),
  };
}

/**
 * The token columns' values in the order both writes bind them: access token, refresh token, expiry, extra, the
 * access and refresh tokens' key ids, the refresh token's expiry, extra's key id.
 */
function tokenColumnValues(key: LinkKey, tokens: TokenSet, cipher: TokenCipher | undefined): unknown[] {
  const { access, refresh, extra } = sealTokens(key, tokens, cipher);
  return [
    access.value,
    refresh.value,
    tokens.expiresAt,
    jsonbParam(extra.json),
    access.keyId,
    refresh.keyId,
    tokens.refreshTokenExpiresAt ?? null,
    extra.keyId,
  ];
}

function toRow(r: Record<string, any>, cipher: TokenCipher | undefined): LinkRow {
  return {
    providerId: r.provider_id,
    userId: r.user_id,
    accessToken: readToken(r, 'oauth_access_token', cipher),
    refreshToken: readToken(r, 'oauth_refresh_token', cipher),
    expiry: r.oauth_expiry,
    refreshTokenExpiry: r.oauth_refresh_token_expiry,
    extra: openExtra({ providerId: r.provider_id, userId: r.user_id }, { json: r.oauth_extra, keyId: r.oauth_extra_key_id }, cipher),
    failureReason: r.oauth_refresh_failure_reason,
    tokenVersion: Number(r.token_version),
    lastRefreshedAt: r.last_refreshed_at,
    exchangeUnansweredAt: r.exchange_unanswered_at,
    exchangeRunId: r.exchange_run_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    accessTokenKeyId: r.oauth_access_token_key_id,
    refreshTokenKeyId: r.oauth_refresh_token_key_id,
    extraKeyId: r.oauth_extra_key_id,
    reauthRequiredSince: r.reauth_required_since ?? null,
    pendingRotation: readPendingRotation(r, cipher),
  };
}

function pendingWhat(key: LinkKey): string {
  return `the pending rotation (journaled exchange answer) of link ${key.providerId}/${key.userId}`;
}

/** The journal of the row's current version, decrypted; a journal of an older version is ignored (never read). */
function readPendingRotation(r: Record<string, any>, cipher: TokenCipher | undefined): PendingRotation | null {
  if (r.pending_rotation === null || r.pending_rotation === undefined || r.pending_rotation_version === null) return null;
  const version = Number(r.pending_rotation_version);
  if (version !== Number(r.token_version)) return null;
  const key = { providerId: r.provider_id, userId: r.user_id };
  const text = openStoredToken({ value: r.pending_rotation, keyId: r.pending_rotation_key_id }, tokenContext('pending_rotation', key), pendingWhat(key), cipher);
  return { tokens: JSON.parse(text) as TokenSet, version, at: r.pending_rotation_at };
}

/**
 * With `cipher`, tokens are written encrypted and read decrypted; without it they are written in plaintext.
 * A row encrypted with a key that is not configured fails to read with a TokenKeyError naming the key id.
 */
export async function getLink(pool: Pool, key: LinkKey, cipher?: TokenCipher): Promise<LinkRow | undefined> {
  const { rows } = await pool.query(`SELECT ${COLUMNS} FROM external_auth_links WHERE provider_id = $1 AND user_id = $2`, [
    key.providerId,
    key.userId,
  ]);
  return rows[0] ? toRow(rows[0], cipher) : undefined;
}

/** What the OAuth callback does: store fresh tokens, clear any failure, bump the version. */
export async function putLink(pool: Pool, key: LinkKey, tokens: TokenSet, cipher?: TokenCipher): Promise<LinkRow> {
  const { rows } = await pool.query(
    `INSERT INTO external_auth_links AS l (provider_id, user_id, oauth_access_token, oauth_refresh_token, oauth_expiry, oauth_extra,
       oauth_access_token_key_id, oauth_refresh_token_key_id, oauth_refresh_token_expiry, oauth_extra_key_id)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)
     ON CONFLICT (provider_id, user_id) DO UPDATE SET
       oauth_access_token = EXCLUDED.oauth_access_token, oauth_refresh_token = EXCLUDED.oauth_refresh_token,
       oauth_access_token_key_id = EXCLUDED.oauth_access_token_key_id, oauth_refresh_token_key_id = EXCLUDED.oauth_refresh_token_key_id,
       oauth_expiry = EXCLUDED.oauth_expiry, oauth_extra = EXCLUDED.oauth_extra, oauth_extra_key_id = EXCLUDED.oauth_extra_key_id,
       oauth_refresh_token_expiry = EXCLUDED.oauth_refresh_token_expiry,
       oauth_refresh_failure_reason = '', exchange_unanswered_at = NULL, exchange_run_id = NULL, ${CLEAR_PENDING_ROTATION},
       token_version = l.token_version + 1, updated_at = now()
     RETURNING ${COLUMNS}`,
    [key.providerId, key.userId, ...tokenColumnValues(key, tokens, cipher)],
  );
  return toRow(rows[0], cipher);
}

/** Compare-and-set write of rotated tokens: only if nobody wrote the row since `expectedVersion`. */
export async function writeRotatedTokens(
  pool: Pool,
  key: LinkKey,
  expectedVersion: number,
  tokens: TokenSet,
  cipher?: TokenCipher,
): Promise<LinkRow | undefined> {
  const { rows } = await pool.query(
    `UPDATE external_auth_links SET
       oauth_access_token = $4, oauth_refresh_token = $5, oauth_expiry = $6, oauth_extra = $7::jsonb,
       oauth_access_token_key_id = $8, oauth_refresh_token_key_id = $9, oauth_refresh_token_expiry = $10, oauth_extra_key_id = $11,
       oauth_refresh_failure_reason = '', exchange_unanswered_at = NULL, exchange_run_id = NULL, ${CLEAR_PENDING_ROTATION},
       token_version = token_version + 1, last_refreshed_at = now(), updated_at = now()
     WHERE provider_id = $1 AND user_id = $2 AND token_version = $3
     RETURNING ${COLUMNS}`,
    [key.providerId, key.userId, expectedVersion, ...tokenColumnValues(key, tokens, cipher)],
  );
  return rows[0] ? toRow(rows[0], cipher) : undefined;
}

/** Compare-and-set write of a permanent failure: clears the dead refresh token (and its expiry) and records why. */
export async function writeRefreshFailure(
  pool: Pool,
  key: LinkKey,
  expectedVersion: number,
  reason: string,
  cipher?: TokenCipher,
): Promise<LinkRow | undefined> {
  const { rows } = await pool.query(
    `UPDATE external_auth_links SET
       oauth_refresh_token = '', oauth_refresh_token_key_id = NULL, oauth_refresh_token_expiry = NULL, oauth_refresh_failure_reason = $4,
       reauth_required_since = COALESCE(reauth_required_since, date_trunc('milliseconds', now())),
       exchange_unanswered_at = NULL, exchange_run_id = NULL, ${CLEAR_PENDING_ROTATION}, token_version = token_version + 1, updated_at = now()
     WHERE provider_id = $1 AND user_id = $2 AND token_version = $3
     RETURNING ${COLUMNS}`,
    [key.providerId, key.userId, expectedVersion, reason],
  );
  return rows[0] ? toRow(rows[0], cipher) : undefined;
}

/**
 * The rotation journal's one write: the provider's answer to the exchange of `exchangedVersion`'s refresh token, sealed
 * like the token columns, compare-and-set on that version. False: the row moved on (a re-link, a delete) or is gone.
 * The token version stays: the row's tokens are unchanged until persist (or a later read) applies the journal.
 */
export async function writePendingRotation(pool: Pool, key: LinkKey, exchangedVersion: number, tokens: TokenSet, cipher?: TokenCipher): Promise<boolean> {
  const sealed = sealToken(JSON.stringify(tokens), tokenContext('pending_rotation', key), cipher);
  const { rowCount } = await pool.query(
    `UPDATE external_auth_links SET pending_rotation = $4, pending_rotation_key_id = $5, pending_rotation_version = $3, pending_rotation_at = now()
     WHERE provider_id = $1 AND user_id = $2 AND token_version = $3`,
    [key.providerId, key.userId, exchangedVersion, sealed.value, sealed.keyId],
  );
  return rowCount === 1;
}

/** The recovery announced (link.recovered): forgets when the link entered reauth_required, unless it entered again since. */
export async function clearReauthRequiredSince(pool: Pool, key: LinkKey, since: Date): Promise<void> {
  await pool.query(
    `UPDATE external_auth_links SET reauth_required_since = NULL
     WHERE provider_id = $1 AND user_id = $2 AND reauth_required_since = $3 AND oauth_refresh_token <> ''`,
    [key.providerId, key.userId, since],
  );
}

/** An exchange in flight or unanswered: when it was sent, and by which workflow run. */
export interface ExchangeMarker {
  at: Date | null;
  runId: string | null;
}

/**
 * Set right before an exchange request goes out; cleared when its answer is written (persist, re-link) or
 * restored when the answer proves nothing rotated. If it is still set at the next attempt, the earlier
 * request's answer was never recorded (a crash, a reset, a timeout): the provider may have rotated then.
 * Returns false when the row moved on from `expectedVersion`. The token version stays: tokens are unchanged.
 */
export async function markExchangeSent(pool: Pool, key: LinkKey, expectedVersion: number, runId: string): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE external_auth_links SET exchange_unanswered_at = now(), exchange_run_id = $4
     WHERE provider_id = $1 AND user_id = $2 AND token_version = $3`,
    [key.providerId, key.userId, expectedVersion, runId],
  );
  return rowCount === 1;
}

export async function restoreExchangeMarker(pool: Pool, key: LinkKey, expectedVersion: number, marker: ExchangeMarker): Promise<void> {
  await pool.query(
    `UPDATE external_auth_links SET exchange_unanswered_at = $4, exchange_run_id = $5
     WHERE provider_id = $1 AND user_id = $2 AND token_version = $3`,
    [key.providerId, key.userId, expectedVersion, marker.at, marker.runId],
  );
}

/**
 * Links whose last exchange was sent more than `olderThanSeconds` ago by a run that has not written its answer:
 * candidates for recovery if that run has ended (see activities/recover.ts).
 */
export async function listStrandedExchanges(
  pool: Pool,
  providerIds: readonly string[],
  olderThanSeconds: number,
  limit = 100,
): Promise<Array<LinkKey & { runId: string }>> {
  const { rows } = await pool.query(
    `SELECT provider_id, user_id, exchange_run_id FROM external_auth_links
     WHERE provider_id = ANY($1) AND exchange_run_id IS NOT NULL AND exchange_unanswered_at < now() - make_interval(secs => $2)
     ORDER BY exchange_unanswered_at LIMIT $3`,
    [providerIds, olderThanSeconds, limit],
  );
  return rows.map((r) => ({ providerId: r.provider_id, userId: r.user_id, runId: r.exchange_run_id }));
}

/** That run's history held no answer to recover: the marker stays (the exchange may have rotated), the run is forgotten. */
export async function forgetExchangeRun(pool: Pool, key: LinkKey, expectedVersion: number, runId: string): Promise<void> {
  await pool.query(
    `UPDATE external_auth_links SET exchange_run_id = NULL
     WHERE provider_id = $1 AND user_id = $2 AND token_version = $3 AND exchange_run_id = $4`,
    [key.providerId, key.userId, expectedVersion, runId],
  );
}

/** The token columns and oauth_extra of one row exactly as stored (ciphertext or plaintext), for re-encryption. */
export interface StoredTokens extends LinkKey {
  tokenVersion: number;
  access: StoredToken;
  refresh: StoredToken;
  extra: StoredExtra;
  /** The rotation journal as stored (any version: an unread stale one is re-encrypted too); null when there is none. */
  pending: StoredToken | null;
}

const STORED_COLUMNS = `provider_id, user_id, token_version, oauth_access_token, oauth_access_token_key_id, oauth_refresh_token, oauth_refresh_token_key_id,
  oauth_extra, oauth_extra_key_id, pending_rotation, pending_rotation_key_id`;

function toStoredTokens(r: Record<string, any>): StoredTokens {
  return {
    providerId: r.provider_id,
    userId: r.user_id,
    tokenVersion: Number(r.token_version),
    access: { value: r.oauth_access_token, keyId: r.oauth_access_token_key_id },
    refresh: { value: r.oauth_refresh_token, keyId: r.oauth_refresh_token_key_id },
    extra: { json: r.oauth_extra, keyId: r.oauth_extra_key_id },
    pending: r.pending_rotation === null || r.pending_rotation === undefined ? null : { value: r.pending_rotation, keyId: r.pending_rotation_key_id },
  };
}

/** One page of rows in primary-key order, after `after` (exclusive); optionally of one provider only. */
export async function listStoredTokens(
  pool: Pool,
  options: { providerId?: string; after?: LinkKey; limit: number },
): Promise<StoredTokens[]> {
  const { rows } = await pool.query(
    `SELECT ${STORED_COLUMNS} FROM external_auth_links
     WHERE ($1::text IS NULL OR provider_id = $1) AND ($2::text IS NULL OR (provider_id, user_id) > ($2, $3))
     ORDER BY provider_id, user_id
     LIMIT $4`,
    [options.providerId ?? null, options.after?.providerId ?? null, options.after?.userId ?? null, options.limit],
  );
  return rows.map(toStoredTokens);
}

export async function getStoredTokens(pool: Pool, key: LinkKey): Promise<StoredTokens | undefined> {
  const { rows } = await pool.query(`SELECT ${STORED_COLUMNS} FROM external_auth_links WHERE provider_id = $1 AND user_id = $2`, [
    key.providerId,
    key.userId,
  ]);
  return rows[0] ? toStoredTokens(rows[0]) : undefined;
}

/**
 * Replaces the stored form of both tokens, the extra and the rotation journal (same values, other encryption) if the
 * row is still exactly as read: same token_version and same stored values (the journal is written without a version
 * bump, so it is compared too). The version is not bumped: the tokens did not change, and a worker holding this
 * version must still be able to write the tokens it is rotating right now.
 */
export async function rewriteStoredTokens(
  pool: Pool,
  read: StoredTokens,
  access: StoredToken,
  refresh: StoredToken,
  extra: StoredExtra,
  pending: StoredToken | null = read.pending,
): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE external_auth_links SET
       oauth_access_token = $4, oauth_access_token_key_id = $5, oauth_refresh_token = $6, oauth_refresh_token_key_id = $7,
       oauth_extra = $12::jsonb, oauth_extra_key_id = $13, pending_rotation = $16, pending_rotation_key_id = $17
     WHERE provider_id = $1 AND user_id = $2 AND token_version = $3
       AND oauth_access_token = $8 AND oauth_access_token_key_id IS NOT DISTINCT FROM $9
       AND oauth_refresh_token = $10 AND oauth_refresh_token_key_id IS NOT DISTINCT FROM $11
       AND oauth_extra IS NOT DISTINCT FROM $14::jsonb AND oauth_extra_key_id IS NOT DISTINCT FROM $15
       AND pending_rotation IS NOT DISTINCT FROM $18 AND pending_rotation_key_id IS NOT DISTINCT FROM $19`,
    [
      read.providerId,
      read.userId,
      read.tokenVersion,
      access.value,
      access.keyId,
      refresh.value,
      refresh.keyId,
      read.access.value,
      read.access.keyId,
      read.refresh.value,
      read.refresh.keyId,
      jsonbParam(extra.json),
      extra.keyId,
      jsonbParam(read.extra.json),
      read.extra.keyId,
      pending?.value ?? null,
      pending?.keyId ?? null,
      read.pending?.value ?? null,
      read.pending?.keyId ?? null,
    ],
  );
  return rowCount === 1;
}

/** A refresh token whose own expiry is this close (at most half its life left) is due for a keep-alive refresh. */
export const REFRESH_TOKEN_MARGIN_SECONDS = 2 * 3_600;

/** A provider's keep-alive rule, as listKeepAliveDue applies it. */
export interface KeepAliveRule {
  providerId: string;
  /** A link whose refresh token was last stored (refresh, re-link, or creation) longer ago than this is due. */
  dueAfterSeconds: number;
  /** A refresh ends the access token agents may hold: such a link waits until that token has expired (unknown expiry: no wait). */
  waitForAccessTokenExpiry: boolean;
}

/**
 * Links due for a keep-alive refresh, oldest first, at most `limit`: of a provider in `rules`, whose refresh token was last
 * stored more than its `dueAfterSeconds` ago, with a refresh token and no recorded failure. "Last stored" is the latest
 * of last_refreshed_at, updated_at (a re-link rewrites the row without a refresh) and created_at. Also due: a refresh
 * token whose own expiry is near (within the keep-alive margin, at most half its life left), which link runs no longer
 * plan for idle links. Reads only the key columns: no token is decrypted. Served by the partial indexes of migration
 * 1796200000000_keep-alive-due-index.sql.
 */
export async function listKeepAliveDue(
  pool: Pool,
  rules: readonly KeepAliveRule[],
  limit: number,
  refreshTokenMarginSeconds = REFRESH_TOKEN_MARGIN_SECONDS,
): Promise<LinkKey[]> {
  if (rules.length === 0) return [];
  const { rows } = await pool.query(
    `SELECT l.provider_id, l.user_id FROM external_auth_links l
     JOIN unnest($1::text[], $2::float8[], $3::boolean[]) AS r(provider_id, due_after, wait_for_expiry) ON r.provider_id = l.provider_id
     WHERE l.oauth_refresh_token <> '' AND l.oauth_refresh_failure_reason = ''
       AND ((GREATEST(l.last_refreshed_at, l.updated_at, l.created_at) < now() - make_interval(secs => r.due_after)
             AND NOT (r.wait_for_expiry AND COALESCE(l.oauth_expiry > now(), false)))
         OR l.oauth_refresh_token_expiry - LEAST(make_interval(secs => $5),
              (l.oauth_refresh_token_expiry - GREATEST(l.last_refreshed_at, l.updated_at, l.created_at)) / 2) < now())
     ORDER BY GREATEST(l.last_refreshed_at, l.updated_at, l.created_at)
     LIMIT $4`,
    [rules.map((r) => r.providerId), rules.map((r) => r.dueAfterSeconds), rules.map((r) => r.waitForAccessTokenExpiry), limit, refreshTokenMarginSeconds],
  );
  return rows.map((r) => ({ providerId: r.provider_id, userId: r.user_id }));
}

/** The row's token version, without reading (or decrypting) its tokens; undefined when there is no row. */
export async function getLinkVersion(pool: Pool, key: LinkKey): Promise<number | undefined> {
  const { rows } = await pool.query(`SELECT token_version FROM external_auth_links WHERE provider_id = $1 AND user_id = $2`, [key.providerId, key.userId]);
  return rows[0] ? Number(rows[0].token_version) : undefined;
}

/**
 * `link delete`: removes the row if it still holds `expectedVersion` (the grant the caller read, and revokes). `changed`:
 * a re-link wrote another grant meanwhile, which the caller reads again; `gone`: no row (deleted already, e.g. by an
 * earlier attempt of the same delete whose answer was lost).
 */
export async function deleteLinkRow(pool: Pool, key: LinkKey, expectedVersion: number): Promise<'deleted' | 'gone' | 'changed'> {
  const { rows } = await pool.query(
    `WITH gone AS (DELETE FROM external_auth_links WHERE provider_id = $1 AND user_id = $2 AND token_version = $3 RETURNING 1)
     SELECT (SELECT count(*) FROM gone) AS deleted,
            (SELECT count(*) FROM external_auth_links WHERE provider_id = $1 AND user_id = $2) AS present`,
    [key.providerId, key.userId, expectedVersion],
  );
  if (Number(rows[0].deleted) > 0) return 'deleted';
  return Number(rows[0].present) > 0 ? 'changed' : 'gone';
}
