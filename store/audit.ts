// The SQL for token_audit: every token the agent endpoint handed out, and every request it refused.
import type { Pool } from 'pg';

export type AuditOutcome = 'served' | string;

export interface AuditEntry {
  servedAt: Date;
  /** The id part of the key presented; null when none could be read. */
  keyId: string | null;
  keyName: string;
  providerId: string;
  userId: string;
  /** core/fingerprint.ts of the token handed out; null for a refusal. */
  tokenFingerprint: string | null;
  /** 'served', or the refusal's error code. */
  outcome: AuditOutcome;
}

export async function recordAudit(pool: Pool, entry: Omit<AuditEntry, 'servedAt'>): Promise<void> {
  await recordAudits(pool, [entry]);
}

/** One INSERT, one commit: every entry is recorded, or none (the statement fails as a whole). */
export async function recordAudits(pool: Pool, entries: Omit<AuditEntry, 'servedAt'>[]): Promise<void> {
  if (entries.length === 0) return;
  const rows = entries.map((_, i) => `(${[1, 2, 3, 4, 5, 6].map((c) => `$${i * 6 + c}`).join(', ')})`);
  await pool.query(
    `INSERT INTO token_audit (key_id, key_name, provider_id, user_id, token_fingerprint, outcome) VALUES ${rows.join(', ')}`,
    entries.flatMap((e) => [e.keyId, e.keyName, e.providerId, e.userId, e.tokenFingerprint, e.outcome]),
  );
}

/** Newest first, at most `limit` entries. */
export async function listAudit(
  pool: Pool,
  filter: { providerId?: string; userId?: string; since?: Date; keyId?: string; limit?: number } = {},
): Promise<AuditEntry[]> {
  const { rows } = await pool.query(
    `SELECT served_at, key_id, key_name, provider_id, user_id, token_fingerprint, outcome FROM token_audit
     WHERE ($1::text IS NULL OR provider_id = $1) AND ($2::text IS NULL OR user_id = $2)
       AND ($3::timestamptz IS NULL OR served_at >= $3) AND ($4::text IS NULL OR key_id = $4)
     ORDER BY served_at DESC LIMIT $5`,
    [filter.providerId ?? null, filter.userId ?? null, filter.since ?? null, filter.keyId ?? null, filter.limit ?? 1000],
  );
  return rows.map((r) => ({
    servedAt: r.served_at,
    keyId: r.key_id,
    keyName: r.key_name,
    providerId: r.provider_id,
    userId: r.user_id,
    tokenFingerprint: r.token_fingerprint,
    outcome: r.outcome,
  }));
}
