// Small assertion helpers shared by the behaviour tests.
import { ExtauthError } from '../../client/index.js';

/** Awaits `promise` and returns the ExtauthError it rejected with; fails if it resolved or threw anything else. */
export async function agentError(promise: Promise<unknown>): Promise<ExtauthError> {
  let value: unknown;
  try {
    value = await promise;
  } catch (err) {
    if (err instanceof ExtauthError) return err;
    throw new Error(`expected an ExtauthError, got ${(err as Error)?.name}: ${(err as Error)?.message}`, { cause: err });
  }
  throw new Error(`expected an ExtauthError, but the call resolved with ${JSON.stringify(value)}`);
}

/** Polls `condition` until it holds (an observable state change, not a guessed delay). */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
