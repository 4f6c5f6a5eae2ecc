import type { LinkKey, LinkSnapshot } from '../core/types.js';
import { getLink, writeRotatedTokens } from '../store/links.js';
import type { ActivityDeps } from './deps.js';
import { requireProvider } from './lookup.js';
import { openTokenSet, type RecordedTokenSet } from './sealed-tokens.js';
import { toSnapshot } from './snapshot.js';
import { ApplicationFailure } from '@temporalio/activity';
import { ActivityFailure } from '../core/failures.js';

export interface PersistInput extends LinkKey {
  expectedVersion: number;
  /** As the exchange returned it (sealed), or a plain TokenSet from an exchange answered before sealing existed. */
  tokens: RecordedTokenSet;
}

/** `adopted`: someone else (a re-link) wrote the row first; their tokens win and ours are not written. */
export interface PersistResult {
  outcome: 'persisted' | 'adopted';
  link: LinkSnapshot;
}

export function makePersistRotatedTokens(deps: ActivityDeps) {
  return async function persistRotatedTokens(input: PersistInput): Promise<PersistResult> {
    const provider = requireProvider(deps, input.providerId);
    const tokens = openRecordedTokens(deps, input);
    const written = await writeRotatedTokens(deps.pool, input, input.expectedVersion, tokens, deps.cipher);
    if (written) return { outcome: 'persisted', link: toSnapshot(written, provider, deps) };

    const row = await getLink(deps.pool, input, deps.cipher);
    if (!row) throw ApplicationFailure.nonRetryable(`link ${input.providerId}/${input.userId} was deleted`, ActivityFailure.LinkNotFound);
    // This very write may have committed in an earlier attempt whose answer was lost (a crash): same tokens, our write.
    if (row.refreshToken === tokens.refreshToken && row.accessToken === tokens.accessToken) {
      return { outcome: 'persisted', link: toSnapshot(row, provider, deps) };
    }
    deps.logger.warn(
      { provider: input.providerId, link: input.userId, step: 'persist', outcome: 'adopted', expectedVersion: input.expectedVersion, rowVersion: row.tokenVersion },
      'link was rewritten during the refresh (re-link?); adopting the stored tokens instead of overwriting them',
    );
    return { outcome: 'adopted', link: toSnapshot(row, provider, deps) };
  };
}

/**
 * Sealed with a worker key this worker lacks (a rotation not rolled out everywhere yet): the activity fails and is
 * retried (persist retries without limit), so the rotated token is not lost while the key is being configured.
 */
function openRecordedTokens(deps: ActivityDeps, input: PersistInput) {
  try {
    return openTokenSet(deps.sealer, input, input.tokens);
  } catch (err) {
    deps.logger.warn(
      { provider: input.providerId, link: input.userId, step: 'persist', cause: (err as Error).message },
      'cannot open the sealed exchange answer; will retry (configure the worker key it names)',
    );
    throw err;
  }
}
