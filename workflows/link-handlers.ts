// The link run's message handlers. Each one validates, enqueues a request for the main loop (workflows/link.ts) and
// waits on a condition for its answer: no handler runs an activity or changes the link, so no two pieces of code
// ever race on it, and no command is issued from a handler except the wait for a re-link's timer.
import { condition, log, setHandler } from '@temporalio/workflow';
import type { LinkStatus, TokenGrant } from '../core/types.js';
import { agentFailure, isAgentFailure } from './failures.js';
import { linkDeleted, type Answer, type Ask, type LinkRun } from './link-state.js';
import {
  cachedTokenQuery,
  deleteLinkUpdate,
  describeUpdate,
  getTokenRequestProblem,
  getTokenUpdate,
  MAX_CLOCK_SKEW_MS,
  refreshNowUpdate,
  relinkedSignal,
  requestRefreshSignal,
  statusQuery,
  touchedSignal,
  type GetTokenRequest,
} from './messages.js';

/** The shortest wait for a re-link: a deadline already passed still waits one timer (then answers reauth_required). */
const MIN_RELINK_WAIT_MS = 1;

/** Enqueues `ask` and waits until the main loop has answered it. */
async function answered<T>(run: LinkRun, ask: Ask, touch: boolean): Promise<Answer<T>> {
  run.enqueue(ask, touch ? Date.now() : undefined);
  await condition(() => ask.answer !== undefined);
  return ask.answer as Answer<T>;
}

function unwrap<T>(answer: Answer<T>): T {
  if ('error' in answer) throw answer.error;
  return answer.value;
}

/** getToken; with `waitSeconds`, a reauth_required answer waits for a re-link (the relinked signal) and asks again. */
async function serveToken(run: LinkRun, request: GetTokenRequest): Promise<TokenGrant> {
  run.counters.requests++;
  const waitSeconds = request.waitSeconds ?? 0;
  const receivedAt = Date.now();
  const waitUntil = receivedAt + waitSeconds * 1000;
  for (;;) {
    const relinksSeen = run.relinks;
    const answer = await answered<TokenGrant>(run, { kind: 'token', request, reportChecked: !request.rejectedFingerprint, rounds: 0, receivedAt }, true);
    if ('value' in answer) return answer.value;
    // Decided by whether the agent asked to wait and whether the wait's timer fired, never by reading the clock.
    if (!isAgentFailure(answer.error, 'reauth_required') || waitSeconds === 0) {
      run.counters.failedRequests++;
      throw answer.error;
    }
    run.waitingForRelink++;
    run.revision++;
    const relinked = await condition(() => run.relinks !== relinksSeen || run.deleted, Math.max(waitUntil - Date.now(), MIN_RELINK_WAIT_MS));
    run.waitingForRelink--;
    run.revision++;
    if (run.deleted) {
      run.counters.failedRequests++;
      throw linkDeleted(run.key);
    }
    if (!relinked) {
      run.counters.failedRequests++;
      throw agentFailure('reauth_required', `${answer.error.message} (waited ${waitSeconds} s; the user did not re-authenticate)`);
    }
  }
}

/** A refused request leaves no history: this warning is the server side's only trace of it. */
function refuse(run: LinkRun, problem: string): never {
  log.warn('getToken request refused', { provider: run.key.providerId, link: run.key.userId, cause: problem });
  throw new RangeError(problem);
}

function validateTokenRequest(run: LinkRun, request: GetTokenRequest): void {
  const problem = getTokenRequestProblem(request);
  if (problem) refuse(run, problem);
  const { nowMs } = request;
  // Validators run only when a request arrives (a refused one leaves no history), so reading the clock is safe here.
  if (nowMs !== undefined && !(Math.abs(nowMs - Date.now()) <= MAX_CLOCK_SKEW_MS)) {
    const offSeconds = Math.round((nowMs - Date.now()) / 1000);
    refuse(run, `the agent's clock is ${offSeconds} s off the server's (at most ${MAX_CLOCK_SKEW_MS / 1000} s allowed): fix its time synchronisation`);
  }
}

export function installLinkHandlers(run: LinkRun): void {
  setHandler(getTokenUpdate, (request) => serveToken(run, request), { validator: (request) => validateTokenRequest(run, request) });
  setHandler(refreshNowUpdate, async (request) => unwrap<LinkStatus>(await answered(run, { kind: 'force', nowMs: request?.nowMs }, true)));
  setHandler(deleteLinkUpdate, async (request) => unwrap(await answered(run, { kind: 'delete', request: { revoke: request?.revoke === true } }, false)));
  setHandler(describeUpdate, async () => unwrap<LinkStatus>(await answered(run, { kind: 'describe' }, false)));
  setHandler(requestRefreshSignal, (request) => void run.enqueue({ kind: 'force', nowMs: request?.nowMs }, Date.now()));
  setHandler(relinkedSignal, () => run.relinked(Date.now()));
  setHandler(touchedSignal, () => run.touch(Date.now()));
  setHandler(statusQuery, () => run.status());
  // Read-only (no command, no history event).
  setHandler(cachedTokenQuery, () => run.cached(Date.now()));
}
