import type { LinkKey, LinkSnapshot, TokenSet } from '../core/types.js';
import { getLink, writeRotatedTokens } from '../store/links.js';
import type { ActivityDeps } from './deps.js';
import { requireProvider } from './lookup.js';
import { toSnapshot } from './snapshot.js';
import { ApplicationFailure } from '@temporalio/activity';
import { ActivityFailure } from '../core/failures.js';

export interface PersistInput extends LinkKey {
  expectedVersion: number;
  tokens: TokenSet;
}

/** `adopted`: someone else (a re-link) wrote the row first; their tokens win and ours are not written. */
export interface PersistResult {
  outcome: 'persisted' | 'adopted';
  link: LinkSnapshot;
}

export function makePersistRotatedTokens(deps: ActivityDeps) {
  return async function persistRotatedTokens(input: PersistInput): Promise<PersistResult> {
    const provider = requireProvider(deps, input.providerId);
    const written = await writeRotatedTokens(deps.pool, input, input.expectedVersion, input.tokens, deps.cipher);
    if (written) return { outcome: 'persisted', link: toSnapshot(written, provider) };

    const row = await getLink(deps.pool, input, deps.cipher);
    if (!row) throw ApplicationFailure.nonRetryable(`link ${input.providerId}/${input.userId} was deleted`, ActivityFailure.LinkNotFound);
    // This very write may have committed in an earlier attempt whose answer was lost (a crash): same tokens, our write.
    if (row.refreshToken === input.tokens.refreshToken && row.accessToken === input.tokens.accessToken) {
      return { outcome: 'persisted', link: toSnapshot(row, provider) };
    }
    deps.logger.warn(
      { provider: input.providerId, link: input.userId, step: 'persist', outcome: 'adopted', expectedVersion: input.expectedVersion, rowVersion: row.tokenVersion },
      'link was rewritten during the refresh (re-link?); adopting the stored tokens instead of overwriting them',
    );
    return { outcome: 'adopted', link: toSnapshot(row, provider) };
  };
}
