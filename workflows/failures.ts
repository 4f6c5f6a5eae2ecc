// How activity failures become the errors agents see. Pure: used inside the workflow sandbox.
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';
import { ActivityFailure as FailureType, isAgentErrorCode, type AgentErrorCode } from '../core/failures.js';

export function agentFailure(code: AgentErrorCode, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: code, message, nonRetryable: true });
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

/** An agent-facing failure for anything an activity reported; anything else is a bug and rethrown as is. */
export function toAgentFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure && isAgentErrorCode(err.type)) return err;
  const cause = applicationCause(err);
  if (cause?.type === FailureType.LinkNotFound) return agentFailure('link_not_found', cause.message);
  if (cause?.type === FailureType.UnknownProvider) return agentFailure('unknown_provider', cause.message);
  if (err instanceof ActivityFailure || cause) return agentFailure('provider_unavailable', cause?.message ?? (err as Error).message);
  return err; // a bug: let the workflow task fail so that a fixed worker can replay it
}
