import type { FailureClass } from '../worker/metrics.js';
import type { ActivityDeps } from './deps.js';

/** Starts the clock for one provider call; the returned function records its outcome once. */
export function callRecorder(deps: ActivityDeps, step: 'exchange' | 'validate', provider: string) {
  const started = performance.now();
  const [calls, seconds] = step === 'exchange' ? [deps.metrics.exchanges, deps.metrics.exchangeSeconds] : [deps.metrics.validations, deps.metrics.validateSeconds];
  return (outcome: string, retriedAs?: FailureClass): void => {
    calls.inc({ provider, outcome });
    seconds.observe({ provider, outcome }, (performance.now() - started) / 1000);
    if (retriedAs) deps.metrics.retries.inc({ provider, step, class: retriedAs });
  };
}

export function statusFailureClass(status: number): FailureClass {
  if (status === 429) return 'http_429';
  if (status === 401) return 'unauthorized_401';
  return status >= 500 ? 'http_5xx' : 'malformed';
}
