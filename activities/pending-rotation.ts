// The rotation journal, read side: an exchange answer written to the row (store/links.ts writePendingRotation) whose
// activity never returned it to Temporal (the worker was killed in between). Its refresh token is the live one; the
// row's own is dead at a provider without a grace window, so whoever finds the journal uses it instead.
import type { LinkKey } from '../core/types.js';
import { getLink, writeRotatedTokens, type LinkRow, type PendingRotation } from '../store/links.js';
import type { ActivityDeps } from './deps.js';
import { linkNotFound } from './lookup.js';

type Logger = ActivityDeps['logger'];

/** One structured line and one count per use of a journal: when it was written and for which version; never a token. */
export function journalUsed(deps: ActivityDeps, key: LinkKey, log: Logger, pending: PendingRotation, use: 'returned' | 'applied'): void {
  deps.metrics.rotationJournal.inc({ provider: key.providerId, outcome: 'used' });
  log.warn(
    { outcome: 'journaled', use, journaledAt: pending.at.toISOString(), exchangedVersion: pending.version },
    use === 'returned'
      ? 'an earlier exchange was answered and journaled but its result never reached Temporal; returning that answer without calling the provider'
      : 'an earlier exchange was answered and journaled but never saved; writing the journaled tokens to the row',
  );
}

/**
 * Writes a row's journaled rotation as persist would (compare-and-set on the version it exchanged, which clears the
 * journal) and returns the row as written; the row as it now stands if another writer (a re-link) got there first.
 * A row deleted meanwhile fails as link not found.
 */
export async function applyPendingRotation(deps: ActivityDeps, key: LinkKey, pending: PendingRotation, log: Logger): Promise<LinkRow> {
  const written = await writeRotatedTokens(deps.pool, key, pending.version, pending.tokens, deps.cipher);
  if (written) {
    journalUsed(deps, key, log, pending, 'applied');
    return written;
  }
  log.warn({ outcome: 'adopted', exchangedVersion: pending.version }, 'the row changed before its journaled rotation was applied (a re-link?); keeping the stored tokens');
  const current = await getLink(deps.pool, key, deps.cipher);
  if (!current) throw linkNotFound(key);
  return current;
}
