// The link run's delete step (`link delete`), run only by the main loop (workflows/link.ts): read the grant (sealed, to
// revoke it), delete the row compare-and-set, start its revocation as an abandoned child, answer. From then on the run
// answers every request link_not_found (LinkRun.deleted) and finishes.
import { ApplicationFailure } from '@temporalio/common';
import { log, proxyActivities, startChild, upsertSearchAttributes } from '@temporalio/workflow';
import type { ExtauthActivities } from '../activities/index.js';
import { ActivityFailure as FailureType } from '../core/failures.js';
import { linkWorkflowId } from '../core/ids.js';
import { agentFailure, agentFailureOrRethrow, applicationCause } from './failures.js';
import { linkDeleted, type DeleteAsk, type LinkRun } from './link-state.js';
import type { DeleteLinkResult } from './messages.js';
import { activityOptions, type Tuning } from './policies.js';
import { revokeGrantWorkflow, revokeWorkflowId } from './revoke-grant.js';
import { ExtauthState, linkIdentity } from './search-attributes.js';

/** A re-link landing between the read and the delete makes the delete read again; this many times at most. */
const MAX_DELETE_ROUNDS = 3;

export async function deleteLinkStep(run: LinkRun, ask: DeleteAsk, tuning: Tuning): Promise<void> {
  const options = activityOptions(tuning);
  const { readLinkForDelete } = proxyActivities<ExtauthActivities>(options.readForDelete);
  const { deleteLink } = proxyActivities<ExtauthActivities>(options.deleteLink);
  const { key } = run;
  const { revoke } = ask.request;
  run.working = true;
  try {
    for (let round = 1; ; round++) {
      const read = await readLinkForDelete({ ...key, revoke });
      if (!read.found) {
        // Nothing to delete: the run ends like a deleted link's, and the operator hears exit 5.
        markDeleted(run);
        ask.answer = { error: agentFailure('link_not_found', `no link for ${key.providerId}/${key.userId}`) };
        return;
      }
      const outcome = await deleteLink({ ...key, expectedVersion: read.version });
      if (outcome === 'changed') {
        if (round < MAX_DELETE_ROUNDS) continue;
        ask.answer = { error: agentFailure('provider_unavailable', 'the link was re-linked while it was being deleted, again and again; run the delete again') };
        return;
      }
      const result: DeleteLinkResult = { deleted: true };
      if (read.sealedGrant) result.revocationWorkflowId = await startRevocation(run, read.sealedGrant, read.version);
      markDeleted(run);
      ask.answer = { value: result };
      log.info('link deleted', { provider: key.providerId, link: key.userId, revoke, revocationWorkflowId: result.revocationWorkflowId, tokenVersion: read.version });
      return;
    }
  } catch (err) {
    ask.answer = { error: deleteFailure(err) };
    log.warn('link delete failed; the link is unchanged', { provider: key.providerId, link: key.userId, cause: ask.answer.error.message });
  } finally {
    run.working = false;
    // Every other request (waiting agents included) hears link_not_found now; later ones in LinkRun.settle.
    if (run.deleted) run.failAll(linkDeleted(key));
  }
}

/**
 * The run's state is `deleted` for operators (a search for ExtauthState="reauth_required" no longer finds the run of a
 * deleted link), and it holds no link any more: the loop publishes nothing else before it finishes.
 */
function markDeleted(run: LinkRun): void {
  run.deleted = true;
  run.link = undefined;
  upsertSearchAttributes([...linkIdentity(run.key), { key: ExtauthState, value: 'deleted' }]);
}

/** The revocation outlives this run (which finishes now) and the CLI that asked: ParentClosePolicy ABANDON. */
async function startRevocation(run: LinkRun, sealedGrant: string, version: number): Promise<string> {
  // From the link's key, not workflowInfo(): the same id however the run is replayed.
  const workflowId = revokeWorkflowId(linkWorkflowId(run.key), version);
  await startChild(revokeGrantWorkflow, {
    workflowId,
    args: [{ ...run.key, version, sealedGrant }],
    parentClosePolicy: 'ABANDON',
    staticSummary: `extauth revoke ${run.key.providerId}/${run.key.userId}`,
  });
  return workflowId;
}

function deleteFailure(err: unknown): ApplicationFailure {
  const cause = applicationCause(err);
  if (cause?.type === FailureType.RevocationUnsupported) return agentFailure('invalid_request', cause.message);
  return agentFailureOrRethrow(err);
}
