import { ApplicationFailure } from '@temporalio/activity';
import { ActivityFailure } from '../core/failures.js';
import type { LinkKey, LinkSnapshot } from '../core/types.js';
import { getLink } from '../store/links.js';
import type { ActivityDeps } from './deps.js';
import { requireProvider } from './lookup.js';
import { toSnapshot } from './snapshot.js';

export function makeLoadLink(deps: ActivityDeps) {
  return async function loadLink(key: LinkKey): Promise<LinkSnapshot> {
    const provider = requireProvider(deps, key.providerId);
    const row = await getLink(deps.pool, key, deps.cipher);
    if (!row) throw ApplicationFailure.nonRetryable(`no link for ${key.providerId}/${key.userId}`, ActivityFailure.LinkNotFound);
    return toSnapshot(row, provider);
  };
}
