// The SQL for agent_keys: keys that operators issue to agents, each scoped to one link. Only the SHA-256 of a key is
// stored; a key is found by looking its hash up (no comparison of secrets in code, no key in any log or row).
import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import type { LinkKey } from '../core/types.js';

/** A key as stored and listed: never the key or its hash. */
export interface AgentKeyInfo {
  id: string;
  name: string;
  providerId: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

/** What a valid key may do: get the token of this one link. */
export interface AgentKeyScope extends LinkKey {
  keyId: string;
  keyName: string;
}

export type AgentKeyRefusal = 'unparsable' | 'unknown' | 'revoked' | 'expired';

export type Authentication = { ok: true; scope: AgentKeyScope } | { ok: false; refusal: AgentKeyRefusal; keyId: string | undefined };

const KEY_PREFIX = 'eak';
/** `eak_<id>_<secret>`: the id is 10 base32-ish characters (no `_`), the secret 32 random bytes base64url (43 chars). */
const KEY_PATTERN = /^eak_([a-z0-9]{10})_([A-Za-z0-9_-]{43})$/;

const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');

/** The id part of a key (public: logs and the audit name it), or undefined when the text is not shaped like a key. */
export function agentKeyId(key: string): string | undefined {
  return KEY_PATTERN.exec(key)?.[1];
}

function newKeyId(): string {
  // 10 characters of [a-z0-9] from 8 random bytes: unique enough for ids (the secret part carries the security).
  return BigInt(`0x${randomBytes(8).toString('hex')}`).toString(36).padStart(13, '0').slice(-10);
}

/** Issues a key for one link; the returned `key` is the only time it exists outside the agent's hands. */
export async function createAgentKey(
  pool: Pool,
  input: LinkKey & { name?: string; ttlSeconds?: number },
): Promise<{ key: string; info: AgentKeyInfo }> {
  const id = newKeyId();
  const key = `${KEY_PREFIX}_${id}_${randomBytes(32).toString('base64url')}`;
  const { rows } = await pool.query(
    `INSERT INTO agent_keys (id, name, provider_id, user_id, key_hash, expires_at)
     VALUES ($1, $2, $3, $4, $5, CASE WHEN $6::int IS NULL THEN NULL ELSE now() + make_interval(secs => $6::int) END)
     RETURNING ${INFO_COLUMNS}`,
    [id, input.name ?? '', input.providerId, input.userId, hashKey(key), input.ttlSeconds ?? null],
  );
  return { key, info: toInfo(rows[0]) };
}

const INFO_COLUMNS = 'id, name, provider_id, user_id, created_at, expires_at, revoked_at';

function toInfo(r: Record<string, any>): AgentKeyInfo {
  return {
    id: r.id,
    name: r.name,
    providerId: r.provider_id,
    userId: r.user_id,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  };
}

export async function listAgentKeys(pool: Pool, filter: { providerId?: string; userId?: string } = {}): Promise<AgentKeyInfo[]> {
  const { rows } = await pool.query(
    `SELECT ${INFO_COLUMNS} FROM agent_keys
     WHERE ($1::text IS NULL OR provider_id = $1) AND ($2::text IS NULL OR user_id = $2)
     ORDER BY created_at, id`,
    [filter.providerId ?? null, filter.userId ?? null],
  );
  return rows.map(toInfo);
}

/** Revokes the key at once; false when no key has that id. Revoking twice keeps the first time. */
export async function revokeAgentKey(pool: Pool, id: string): Promise<boolean> {
  const { rowCount } = await pool.query(`UPDATE agent_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, [id]);
  return (rowCount ?? 0) > 0;
}

/** The scope of a valid key, or why it is refused. Expiry is judged by the database's clock, like created_at. */
export async function authenticateAgentKey(pool: Pool, key: string): Promise<Authentication> {
  return (await authenticateAgentKeys(pool, [key]))[0]!;
}

/** authenticateAgentKey for many keys in one query (the agent endpoint's concurrent requests); answers in order. */
export async function authenticateAgentKeys(pool: Pool, keys: string[]): Promise<Authentication[]> {
  const presented = keys.map((key) => ({ keyId: agentKeyId(key), hash: hashKey(key) }));
  const hashes = presented.filter((p) => p.keyId).map((p) => p.hash);
  const { rows } = hashes.length
    ? await pool.query(`SELECT ${INFO_COLUMNS}, key_hash, expires_at <= now() AS expired FROM agent_keys WHERE key_hash = ANY($1::text[])`, [hashes])
    : { rows: [] };
  const byHash = new Map(rows.map((row) => [row.key_hash as string, row]));
  return presented.map(({ keyId, hash }): Authentication => {
    if (!keyId) return { ok: false, refusal: 'unparsable', keyId: undefined };
    const row = byHash.get(hash);
    // The hash must also belong to the id the key names: a row is found by its hash only, so this is belt and braces.
    if (!row || row.id !== keyId) return { ok: false, refusal: 'unknown', keyId };
    if (row.revoked_at) return { ok: false, refusal: 'revoked', keyId };
    if (row.expired) return { ok: false, refusal: 'expired', keyId };
    return { ok: true, scope: { keyId, keyName: row.name, providerId: row.provider_id, userId: row.user_id } };
  });
}
