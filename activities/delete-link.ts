// `link delete`: the link run reads the grant it is about to delete (sealed for its revocation), then deletes the row.
// Two activities, so that a crash after the row is gone cannot lose the tokens a revocation needs: they are already
// in history, sealed with the worker key (clients and the codec server cannot open them).
import { ApplicationFailure } from '@temporalio/activity';
import { ActivityFailure } from '../core/failures.js';
import type { LinkKey } from '../core/types.js';
import { deleteLinkRow, getLink, getLinkVersion } from '../store/links.js';
import type { ActivityDeps } from './deps.js';
import { requireProvider } from './lookup.js';

export interface ReadForDeleteInput extends LinkKey {
  revoke: boolean;
}

/** What the delete needs: the row's version and, to revoke, its tokens sealed with the worker key. */
export type ReadForDeleteResult = { found: false } | { found: true; version: number; sealedGrant?: string };

/** What `sealedGrant` opens to (activities/revoke.ts). Empty strings: the row holds no such token. */
export interface GrantTokens {
  refreshToken: string;
  accessToken: string;
}

export function makeReadLinkForDelete(deps: ActivityDeps) {
  return async function readLinkForDelete(input: ReadForDeleteInput): Promise<ReadForDeleteResult> {
    const key = { providerId: input.providerId, userId: input.userId };
    if (input.revoke) {
      const provider = requireProvider(deps, input.providerId);
      // Refused before anything is deleted: the operator chooses between deleting without revoking and configuring it.
      if (!provider.revocationUrl) {
        throw ApplicationFailure.nonRetryable(
          `provider ${provider.id} has no revocationUrl, so extauth cannot revoke its grants: revoke the app's access at the provider, ` +
            'then delete without --revoke (docs/providers.md, "Revoking a grant")',
          ActivityFailure.RevocationUnsupported,
        );
      }
    }
    if (!input.revoke) {
      // The tokens are not read: a link whose tokens no configured key opens can still be deleted.
      const version = await getLinkVersion(deps.pool, key);
      return version === undefined ? { found: false } : { found: true, version };
    }
    const row = await getLink(deps.pool, key, deps.cipher);
    if (!row) return { found: false };
    // A journaled rotation not yet applied holds the grant's live tokens; the row's own are dead at a provider without grace.
    const live = row.pendingRotation?.tokens ?? row;
    const tokens: GrantTokens = { refreshToken: live.refreshToken, accessToken: live.accessToken };
    return { found: true, version: row.tokenVersion, sealedGrant: deps.sealer.seal(tokens, key) };
  };
}

export function makeDeleteLinkRow(deps: ActivityDeps) {
  return async function deleteLink(input: LinkKey & { expectedVersion: number }): Promise<'deleted' | 'gone' | 'changed'> {
    const outcome = await deleteLinkRow(deps.pool, input, input.expectedVersion);
    deps.logger.info({ provider: input.providerId, link: input.userId, step: 'delete link', outcome, tokenVersion: input.expectedVersion }, 'link delete');
    return outcome;
  };
}
