// Brings every stored token (and oauth_extra, which holds id_token) under the current database key: encrypts
// plaintext rows and re-encrypts rows sealed with an older key. Each row is its own compare-and-set update, so it
// runs safely next to workers. Plaintext is read here even in strict mode: migrating it is this module's job.
import type { Pool } from 'pg';
import { getStoredTokens, listStoredTokens, openExtra, rewriteStoredTokens, sealExtra, tokenContext, type StoredExtra, type StoredTokens } from './links.js';
import { openStoredToken, sealToken, TokenKeyError, type StoredToken, type TokenCipher } from './token-cipher.js';

export interface ReencryptReport {
  /** Rows looked at. */
  scanned: number;
  /** Rows that held a plaintext token or oauth_extra and now (or, with dryRun, would) hold ciphertext. */
  encrypted: number;
  /** Rows sealed with an older key, now (or would be) sealed with the current one. */
  reencrypted: number;
  /** Rows already entirely under the current key (or without tokens). */
  current: number;
  /** Rows that kept changing under us (a worker rewrote them each time): left to the next run. */
  changedMeanwhile: number;
  /** Rows sealed with keys that are not configured (or do not decrypt with the key of that id), by key id: left untouched. */
  unknownKeys: Record<string, number>;
}

const PAGE = 200;
/** A row rewritten by a worker between our read and our write is read again, this many times. */
const ATTEMPTS = 3;

export async function reencryptStoredTokens(
  pool: Pool,
  cipher: TokenCipher,
  options: { providerId?: string; dryRun?: boolean } = {},
): Promise<ReencryptReport> {
  const report: ReencryptReport = { scanned: 0, encrypted: 0, reencrypted: 0, current: 0, changedMeanwhile: 0, unknownKeys: {} };
  let after: StoredTokens | undefined;
  for (;;) {
    const page = await listStoredTokens(pool, { providerId: options.providerId, after, limit: PAGE });
    for (const first of page) {
      report.scanned++;
      let row: StoredTokens | undefined = first;
      for (let attempt = 1; row; attempt++) {
        const outcome = await reencryptRow(pool, cipher, row, options.dryRun ?? false);
        if (outcome.kind === 'unknown_key') {
          report.unknownKeys[outcome.keyId] = (report.unknownKeys[outcome.keyId] ?? 0) + 1;
        } else if (outcome.kind !== 'conflict') {
          report[outcome.kind]++;
        } else if (attempt >= ATTEMPTS) {
          report.changedMeanwhile++;
        } else {
          row = await getStoredTokens(pool, row); // undefined: deleted meanwhile
          continue;
        }
        break;
      }
    }
    if (page.length < PAGE) return report;
    after = page[page.length - 1];
  }
}

type RowOutcome = { kind: 'encrypted' | 'reencrypted' | 'current' | 'conflict' } | { kind: 'unknown_key'; keyId: string };

async function reencryptRow(pool: Pool, cipher: TokenCipher, row: StoredTokens, dryRun: boolean): Promise<RowOutcome> {
  const columns = [
    { stored: row.access, context: tokenContext('oauth_access_token', row), what: `the access token of link ${row.providerId}/${row.userId}` },
    { stored: row.refresh, context: tokenContext('oauth_refresh_token', row), what: `the refresh token of link ${row.providerId}/${row.userId}` },
    // The rotation journal: a token set, sealed like a token (a journal no longer read goes along: it is cleared on the next write).
    { stored: row.pending ?? { value: '', keyId: null }, context: tokenContext('pending_rotation', row), what: `the pending rotation of link ${row.providerId}/${row.userId}` },
  ];
  const isCurrent = (s: StoredToken) => s.keyId === cipher.currentKeyId || (s.keyId === null && s.value === '');
  const extraIsCurrent = (e: StoredExtra) => e.keyId === cipher.currentKeyId || e.json === null;
  if (columns.every((c) => isCurrent(c.stored)) && extraIsCurrent(row.extra)) return { kind: 'current' };

  const plaintextFound = columns.some((c) => c.stored.keyId === null && c.stored.value !== '') || (row.extra.keyId === null && row.extra.json !== null);
  const sealed: StoredToken[] = [];
  let extra = row.extra;
  try {
    for (const c of columns) {
      if (isCurrent(c.stored)) {
        sealed.push(c.stored);
        continue;
      }
      const plain = c.stored.keyId === null ? c.stored.value : openStoredToken(c.stored, c.context, c.what, cipher);
      sealed.push(sealToken(plain, c.context, cipher));
    }
    if (!extraIsCurrent(row.extra)) {
      const plain = row.extra.keyId === null ? (row.extra.json as Record<string, unknown>) : openExtra(row, row.extra, cipher);
      extra = sealExtra(row, plain, cipher);
    }
  } catch (err) {
    if (err instanceof TokenKeyError && err.keyId !== null) return { kind: 'unknown_key', keyId: err.keyId };
    throw err;
  }
  const pending = row.pending === null ? null : sealed[2]!;
  if (!dryRun && !(await rewriteStoredTokens(pool, row, sealed[0]!, sealed[1]!, extra, pending))) return { kind: 'conflict' };
  return { kind: plaintextFound ? 'encrypted' : 'reencrypted' };
}
