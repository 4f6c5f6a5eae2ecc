// Revokes a deleted link's grant at the provider, durably: a workflow of its own (id `revoke:<link workflow id>:v<token
// version>`), started by the link run's delete as a child it abandons, so it outlives both that run and the CLI that asked.
// Transient failures are retried with backoff for days; a refusal ends it at once with the provider's reason.
import { log, proxyActivities } from '@temporalio/workflow';
import type { ExtauthActivities } from '../activities/index.js';
import type { RevokeGrantResult } from '../activities/revoke.js';
import type { LinkKey } from '../core/types.js';
import { ActivityFailure as FailureType } from '../core/failures.js';
import { applicationCause, failureMessage } from './failures.js';
import { httpDeadlineMs, REVOKE_ATTEMPT_MS, revokeGrantOptions } from './policies.js';
import { announce } from './webhook-delivery.js';

export interface RevokeGrantWorkflowInput extends LinkKey {
  /** The deleted row's version: names this revocation (its workflow id, its link.revoked occurrence). */
  version: number;
  /** The deleted row's tokens sealed with the worker key (activities/delete-link.ts): never clear in history. */
  sealedGrant: string;
}

/** The revocation's outcome: `refused` is permanent (the link stays deleted either way); `reason` is bounded provider text. */
export type RevocationOutcome =
  | { outcome: 'revoked' | 'nothing_to_revoke'; status?: number }
  | { outcome: 'refused'; reason: string; status?: number };

const { revokeGrant } = proxyActivities<ExtauthActivities>(revokeGrantOptions);

export function revokeWorkflowId(linkWorkflowId: string, tokenVersion: number): string {
  return `revoke:${linkWorkflowId}:v${tokenVersion}`;
}

export async function revokeGrantWorkflow(input: RevokeGrantWorkflowInput): Promise<RevocationOutcome> {
  const outcome = await revoke(input);
  // link.revoked: one occurrence per deleted version, whatever the provider said.
  const key = { providerId: input.providerId, userId: input.userId };
  await announce(key, { type: 'link.revoked', episode: `v${input.version}`, reason: revokedReason(outcome) }, Date.now());
  return outcome;
}

async function revoke(input: RevokeGrantWorkflowInput): Promise<RevocationOutcome> {
  let result: RevokeGrantResult;
  try {
    result = await revokeGrant({ providerId: input.providerId, userId: input.userId, sealedGrant: input.sealedGrant, httpTimeoutMs: httpDeadlineMs(REVOKE_ATTEMPT_MS) });
  } catch (err) {
    const cause = applicationCause(err);
    const status = (cause?.details?.[0] as { status?: number | null } | undefined)?.status ?? undefined;
    const reason = failureMessage(err);
    // A refusal is an answer, not a failure of this workflow; a week of transient failures is reported the same way.
    log.warn('revocation failed; the link stays deleted', { provider: input.providerId, link: input.userId, cause: reason, permanent: cause?.type === FailureType.RevocationRefused });
    return { outcome: 'refused', reason, ...(status ? { status } : {}) };
  }
  return { outcome: result.outcome, ...(result.status ? { status: result.status } : {}) };
}

/** What receivers read in link.revoked: the link is deleted in every case; whether the provider still honours the grant differs. */
function revokedReason(outcome: RevocationOutcome): string {
  if (outcome.outcome === 'refused') return `the link was deleted, but the provider refused to revoke its grant: ${outcome.reason}`;
  if (outcome.outcome === 'revoked') return 'the link was deleted and its grant revoked at the provider';
  return 'the link was deleted; the provider held no live grant for it';
}
