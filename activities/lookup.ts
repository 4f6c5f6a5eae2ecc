import { ApplicationFailure, Context } from '@temporalio/activity';
import { ActivityFailure } from '../core/failures.js';
import type { LinkKey } from '../core/types.js';
import type { ProviderConfig } from '../providers/config.js';
import type { ActivityDeps } from './deps.js';

export function requireProvider(deps: ActivityDeps, providerId: string): ProviderConfig {
  const provider = deps.providers.get(providerId);
  if (!provider) {
    throw ApplicationFailure.nonRetryable(
      `provider "${providerId}" is not configured (known: ${deps.providers.ids().join(', ') || 'none'})`,
      ActivityFailure.UnknownProvider,
    );
  }
  return provider;
}

/** The link workflow run that called this activity (extauth's activities are only ever called by one). */
export function callingRun(): { workflowId: string; runId: string } {
  const run = Context.current().info.workflowExecution;
  if (!run) throw ApplicationFailure.nonRetryable('extauth activities run only inside a link workflow', ActivityFailure.LinkNotFound);
  return run;
}

/** A link whose row is gone (deleted, or never stored): final, no retry. */
export function linkNotFound(key: LinkKey): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`no link for ${key.providerId}/${key.userId}`, ActivityFailure.LinkNotFound);
}
