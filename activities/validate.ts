import { ApplicationFailure, Context } from '@temporalio/activity';
import { ActivityFailure } from '../core/failures.js';
import type { LinkKey } from '../core/types.js';
import { classifyValidationAnswer, validationRequest } from '../providers/validation.js';
import type { ActivityDeps } from './deps.js';
import { callProvider, HttpCallError } from './http.js';
import { callRecorder, statusFailureClass } from './instrument.js';
import { requireProvider } from './lookup.js';

export interface ValidateInput extends LinkKey {
  accessToken: string;
  httpTimeoutMs: number;
  /** Attempts on which a 401 is retried (GitHub may not know a brand-new token for a moment). */
  unauthorizedAttempts: number;
}

/** `rate_limited` counts as valid: the provider knows the token, it only asks us to slow down. */
export type ValidateResult = 'valid' | 'rate_limited' | 'invalid' | 'not_checked';

const UNAUTHORIZED_RETRY_DELAY_MS = 200;

export function makeValidateAccessToken(deps: ActivityDeps) {
  return async function validateAccessToken(input: ValidateInput): Promise<ValidateResult> {
    const provider = requireProvider(deps, input.providerId);
    if (!provider.validateUrl) return 'not_checked';
    const attempt = Context.current().info.attempt;
    const log = deps.logger.child({ provider: input.providerId, link: input.userId, step: 'validate', attempt });

    const record = callRecorder(deps, 'validate', input.providerId);
    let answer;
    try {
      answer = await callProvider(deps.http, provider.validateUrl, {
        ...validationRequest(provider.type, input.accessToken),
        timeoutMs: input.httpTimeoutMs,
      });
    } catch (err) {
      if (!(err instanceof HttpCallError)) throw err;
      record('transient', err.failureClass);
      log.warn({ outcome: 'transient', cause: err.message }, 'validation got no answer; tokens are already saved, will retry');
      throw ApplicationFailure.retryable(`validate endpoint: ${err.message}`, ActivityFailure.ProviderUnavailable);
    }

    const verdict = classifyValidationAnswer(provider.type, answer.status, answer.headers, answer.body);
    const retried = verdict === 'error' || (verdict === 'unauthorized' && attempt < input.unauthorizedAttempts);
    record(verdict === 'error' ? 'transient' : verdict, retried ? statusFailureClass(answer.status) : undefined);
    switch (verdict) {
      case 'valid':
      case 'rate_limited':
        return verdict;
      case 'invalid':
        log.warn({ outcome: 'invalid', status: answer.status }, 'provider rejected the new access token');
        return 'invalid';
      case 'unauthorized':
        if (attempt >= input.unauthorizedAttempts) {
          log.warn({ outcome: 'invalid', status: answer.status }, 'provider kept refusing the new access token');
          return 'invalid';
        }
        log.warn({ outcome: 'retry', status: answer.status }, 'validation refused the token; retrying briefly (replication lag)');
        throw ApplicationFailure.create({
          type: ActivityFailure.AccessTokenRejected,
          message: `validate endpoint: HTTP ${answer.status}`,
          nextRetryDelay: UNAUTHORIZED_RETRY_DELAY_MS,
        });
      case 'error':
        log.warn({ outcome: 'transient', status: answer.status }, 'validation failed; tokens are already saved, will retry');
        throw ApplicationFailure.retryable(`validate endpoint: HTTP ${answer.status}`, ActivityFailure.ProviderUnavailable);
    }
  };
}
