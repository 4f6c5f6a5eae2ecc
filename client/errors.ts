import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { AgentErrorCode, isAgentErrorCode } from '../core/failures.js';

/** A failure an agent can act on; `exitCode` is what the CLI exits with. */
export class ExtauthError extends Error {
  constructor(
    readonly code: AgentErrorCode,
    readonly reason: string,
  ) {
    super(`${code}: ${reason}`);
    this.name = 'ExtauthError';
  }
  get exitCode(): number {
    return AgentErrorCode[this.code];
  }
  /** `error` is what the agent endpoint answers with; `code` is the same word, kept for existing callers. */
  toJSON(): { error: AgentErrorCode; code: AgentErrorCode; reason: string } {
    return { error: this.code, code: this.code, reason: this.reason };
  }
}

export function toExtauthError(err: unknown): unknown {
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure) {
      if (isAgentErrorCode(cause.type)) return new ExtauthError(cause.type, cause.message);
      // The update validator refused the request (bad input).
      return new ExtauthError('invalid_request', cause.message);
    }
  }
  return err;
}

/**
 * The run we attached to closed (idle finish) before it accepted our update. The next
 * Update-with-Start opens a new run, so the request is retried rather than lost.
 */
export function isClosingRunRace(err: unknown): boolean {
  if (err instanceof WorkflowNotFoundError) return true;
  const message = String((err as Error)?.message ?? '');
  return /workflow execution already completed|workflow is closing|update.*(aborted|was not accepted)/i.test(message);
}
