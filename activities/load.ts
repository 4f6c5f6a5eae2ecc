import { Context } from '@temporalio/activity';
import type { LinkKey, LinkSnapshot } from '../core/types.js';
import { getLink, type LinkRow } from '../store/links.js';
import type { ActivityDeps } from './deps.js';
import { callingRun, linkNotFound, requireProvider } from './lookup.js';
import { applyPendingRotation } from './pending-rotation.js';
import { recoverRotatedTokens } from './recover.js';
import { toSnapshot } from './snapshot.js';

export function makeLoadLink(deps: ActivityDeps) {
  return async function loadLink(key: LinkKey): Promise<LinkSnapshot> {
    const provider = requireProvider(deps, key.providerId);
    const row = await readCurrentRow(deps, key);
    // A journaled rotation: the row's tokens are dead at a provider without grace; the journal's are the live ones.
    const log = deps.logger.child({ provider: key.providerId, link: key.userId, step: 'load' });
    const current = row.pendingRotation ? await applyPendingRotation(deps, key, row.pendingRotation, log) : row;
    return toSnapshot(current, provider, deps);
  };
}

/** The link's row as a run starts from it (loadLink, or the exchange on a run's first step): rotations an ended run left in its history recovered first. */
export async function readCurrentRow(deps: ActivityDeps, key: LinkKey): Promise<LinkRow> {
  const row = await getLink(deps.pool, key, deps.cipher);
  if (!row) throw linkNotFound(key);
  const { workflowId, runId } = callingRun();
  // Another run sent an exchange and ended without writing its answer: the answer may be in that run's history.
  const endedMidRefresh = row.exchangeUnansweredAt !== null && row.exchangeRunId !== null && row.exchangeRunId !== runId;
  return endedMidRefresh ? ((await recoverRotatedTokens(deps, Context.current().client, workflowId, key, row)) ?? row) : row;
}
