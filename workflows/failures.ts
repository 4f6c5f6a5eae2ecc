// How activity failures become the errors agents see. Pure: used inside the workflow sandbox and by unit tests.
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/common';
import { ActivityFailure as FailureType, isAgentErrorCode, type AgentErrorCode } from '../core/failures.js';

export function agentFailure(code: AgentErrorCode, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: code, message, nonRetryable: true });
}

export function isAgentFailure(err: unknown, code?: AgentErrorCode): err is ApplicationFailure {
  return err instanceof ApplicationFailure && isAgentErrorCode(err.type) && (code === undefined || err.type === code);
}

/** The activity's own failure, whether it arrives wrapped in an ActivityFailure or not. */
export function applicationCause(err: unknown): ApplicationFailure | undefined {
  if (err instanceof ActivityFailure) {
    // When the retry budget runs out the server reports a schedule-to-close timeout whose cause is the last attempt's failure.
    const cause = err.cause instanceof TimeoutFailure ? err.cause.cause : err.cause;
    return cause instanceof ApplicationFailure ? cause : undefined;
  }
  return err instanceof ApplicationFailure && !isAgentErrorCode(err.type) ? err : undefined;
}

export function failureMessage(err: unknown): string {
  return applicationCause(err)?.message ?? (err as Error).message;
}

/** The provider refused the refresh token for good (exchange's RefreshRejected): what recordRefreshFailure stores. */
export function refreshRejection(err: unknown): { providerError: string; unansweredSince: string | null; version?: number } | undefined {
  const cause = applicationCause(err);
  if (cause?.type !== FailureType.RefreshRejected) return undefined;
  // `version`: the row version whose refresh token was refused (a run's first step named none in its request).
  const detail = cause.details?.[0] as { unansweredSince?: string | null; version?: number } | undefined;
  return { providerError: cause.message, unansweredSince: detail?.unansweredSince ?? null, ...(typeof detail?.version === 'number' ? { version: detail.version } : {}) };
}

/**
 * An agent-facing failure for anything an activity reported: permanent refusals were already recorded as
 * reauth_required by the run, unknown links and providers keep their code, everything else (a retry budget spent,
 * a validation that gave up) is provider_unavailable. Anything else is a bug and rethrown as is.
 */
export function toAgentFailure(err: unknown): unknown {
  if (isAgentFailure(err)) return err;
  const cause = applicationCause(err);
  if (cause?.type === FailureType.LinkNotFound) return agentFailure('link_not_found', cause.message);
  if (cause?.type === FailureType.UnknownProvider) return agentFailure('unknown_provider', cause.message);
  if (err instanceof ActivityFailure || cause) return agentFailure('provider_unavailable', cause?.message ?? (err as Error).message);
  return err; // a bug: let the workflow task fail so that a fixed worker can replay it
}

/** toAgentFailure where only an agent-facing failure can be answered: anything else is a bug, rethrown as is to fail the workflow task. */
export function agentFailureOrRethrow(err: unknown): ApplicationFailure {
  const failure = toAgentFailure(err);
  if (!isAgentFailure(failure)) throw err;
  return failure;
}

/** The row could not be read at all (no link, unknown provider): not an exchange that gave up. */
export function unreadableRow(err: unknown): boolean {
  const failure = toAgentFailure(err);
  return isAgentFailure(failure, 'link_not_found') || isAgentFailure(failure, 'unknown_provider');
}
