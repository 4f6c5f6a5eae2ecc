// One workflow per (provider, user) link, written as one actor. Handlers (workflows/link-handlers.ts) only validate,
// enqueue a request and wait for its answer; the main loop at the bottom is the only code that runs activities,
// upserts search attributes and changes the link. What it does next is decided by nextStep (workflows/link-state.ts).
import { allHandlersFinished, condition, continueAsNew, log, proxyActivities } from '@temporalio/workflow';
import type { ExtauthActivities } from '../activities/index.js';
import type { LinkSnapshot } from '../core/types.js';
import { agentFailure, failureMessage, isAgentFailure, refreshRejection, toAgentFailure } from './failures.js';
import { deleteLinkStep } from './link-delete.js';
import { Alarm, continueAsNewDue, Publisher, warnRefreshTokenExpiry } from './link-effects.js';
import { installLinkHandlers } from './link-handlers.js';
import { LinkRun, nextStep, type Step } from './link-state.js';
import type { LinkWorkflowInput } from './messages.js';
import { activityOptions, DEFAULT_TUNING, httpDeadlineMs } from './policies.js';
import { announcePending } from './webhook-delivery.js';

export async function linkWorkflow(input: LinkWorkflowInput): Promise<void> {
  const tuning = { ...DEFAULT_TUNING, ...input.tuning };
  const run = new LinkRun(input, tuning, Date.now());
  const { key } = run;
  const options = activityOptions(tuning);
  // Normal activities only: each completion is an event, so live runs and replays see the same order.
  const { exchangeRefreshToken } = proxyActivities<ExtauthActivities>(options.exchange);
  const { persistRotatedTokens } = proxyActivities<ExtauthActivities>(options.persist);
  const { validateAccessToken } = proxyActivities<ExtauthActivities>(options.validate);
  const { loadLink } = proxyActivities<ExtauthActivities>(options.load);
  const { recordRefreshFailure } = proxyActivities<ExtauthActivities>(options.recordFailure);
  const publisher = new Publisher(run);
  const publish = () => publisher.publish();

  // ---- The refresh protocol: exchange → persist → validate ---------------------------------------------------------

  /** The exchange's answer is recorded by Temporal before persist runs: a crash in between loses no rotation. */
  async function refresh(force: boolean): Promise<void> {
    const current = run.link!;
    if (!current.hasRefreshToken) return;
    // Saved but not validated (validation gave up): validate again rather than rotate again, while it lives.
    const expired = current.expiresAt !== null && Date.parse(current.expiresAt) <= Date.now();
    if (!force && run.validation === 'unvalidated' && !expired) return validate(current);
    run.counters.refreshes++;
    run.counters.exchanges++;
    run.forceDeferred = false;
    const expectedVersion = current.version;
    let exchanged;
    try {
      exchanged = await exchangeRefreshToken({ ...key, expectedVersion, httpTimeoutMs: httpDeadlineMs(tuning.exchangeAttemptMs) });
    } catch (err) {
      const rejected = refreshRejection(err);
      if (!rejected) throw gaveUp('token exchange gave up; the stored tokens are unchanged', err);
      // Refused for good: the row records it (or holds a newer grant) and the request hears reauth_required.
      const recorded = await recordRefreshFailure({ ...key, expectedVersion, ...rejected });
      return run.refused(recorded.link, recorded.outcome === 'adopted');
    }
    // Another writer (a re-link, another run) changed the row first: its tokens are the link's.
    if (exchanged.kind === 'link_changed') return run.adopted(await loadLink(key), true);
    const persisted = await persistRotatedTokens({ ...key, expectedVersion, tokens: exchanged.tokens });
    if (persisted.outcome === 'adopted') return run.adopted(persisted.link, true);
    run.saved(persisted.link);
    await validate(persisted.link);
  }

  /** A new token is checked at the provider before anyone gets it (replication lag: 401s are retried). */
  async function validate(current: LinkSnapshot): Promise<void> {
    if (!run.validationUnchecked) {
      const verdict = await check(current, tuning.unauthorizedAttempts, 'validation gave up; the new tokens stay saved and the next request validates again');
      if (verdict === 'not_checked') run.validationUnchecked = true; // no validateUrl: later refreshes skip the call
      if (verdict === 'invalid') {
        run.validation = 'rejected';
        warn('provider rejected the newly issued access token; the next request refreshes again', 'access token rejected by the provider');
        throw agentFailure('provider_unavailable', 'the provider rejected the newly issued access token; retry to refresh again');
      }
    }
    run.validated(current.version);
  }

  /** A token reported refused (or a force meeting a promised one): refused, refreshed at once; accepted, it stays. */
  async function recheck(): Promise<void> {
    // One attempt: replication lag concerns new tokens, and this one was already in use.
    const verdict = await check(run.link!, 1, 'checking a token reported as refused failed; it stays current');
    // A provider without a validateUrl cannot be asked: the report (or the operator's force) is taken as said.
    if (verdict === 'valid' || verdict === 'rate_limited') return;
    run.validation = 'rejected';
    warn('the provider refuses the current access token (reported by an agent); refreshing', 'access token rejected by the provider');
    await refresh(true);
  }

  /** refreshNow / requestRefresh: a token agents were promised is checked first; still accepted, the refresh waits for its told expiry. */
  async function forceRefresh(nowMs: number): Promise<void> {
    if (!run.promised(nowMs)) return refresh(true);
    const version = run.link!.version;
    await recheck();
    if (run.link!.version === version && run.promised(nowMs)) run.forceDeferred = true;
  }

  async function check(current: LinkSnapshot, unauthorizedAttempts: number, onGiveUp: string) {
    try {
      const verdict = await validateAccessToken({ ...key, accessToken: current.accessToken, httpTimeoutMs: httpDeadlineMs(tuning.validateAttemptMs), unauthorizedAttempts });
      run.counters.validations++;
      return verdict;
    } catch (err) {
      throw gaveUp(onGiveUp, err);
    }
  }

  function gaveUp(message: string, err: unknown): unknown {
    warn(message, failureMessage(err));
    return toAgentFailure(err);
  }

  function warn(message: string, cause: string): void {
    run.lastError = cause;
    log.warn(message, { provider: key.providerId, link: key.userId, cause, tokenVersion: run.link?.version });
  }

  // ---- The steps of the main loop -------------------------------------------------------------------------------------

  /** Loads the row (a re-link: again). A load that fails fails the requests waiting for it; a re-link's only warns. */
  async function load(relink: boolean): Promise<void> {
    run.working = true;
    run.reloadRequested = false;
    try {
      if (relink) run.validation = 'valid';
      run.loaded(await loadLink(key));
      if (relink) {
        run.proactiveSucceeded();
        run.relinks++;
      }
    } catch (err) {
      const failure = toAgentFailure(err);
      if (!isAgentFailure(failure)) throw err; // a bug: fail the workflow task
      if (relink) warn('reloading the re-linked row failed', failureMessage(err));
      else run.failAll(failure);
    } finally {
      run.working = false;
    }
  }

  /** A refresh or check: every request waiting when it ends shares its outcome (N agents, one exchange). */
  async function shared(step: Extract<Step, { kind: 'refresh' | 'recheck' | 'force' }>): Promise<void> {
    const own = step.kind === 'refresh' && step.own;
    if (own) run.counters.proactiveRefreshes++;
    run.refreshing = run.working = true;
    publish();
    let failure;
    try {
      if (step.kind === 'force') await forceRefresh(step.nowMs ?? Date.now());
      else if (step.kind === 'recheck') await recheck();
      else await refresh(step.force);
      if (own) run.proactiveSucceeded();
    } catch (err) {
      failure = toAgentFailure(err);
      if (!isAgentFailure(failure)) throw err; // a bug: fail the workflow task
      if (own) {
        const delayMs = run.proactiveFailed(Date.now());
        warn(`refresh ahead of expiry failed; the run tries again in ${delayMs / 1000} s, agents still refresh on demand`, failureMessage(err));
      }
    } finally {
      run.refreshing = run.working = false;
    }
    run.shareOutcome(failure, () => run.status());
  }

  // ---- The main loop --------------------------------------------------------------------------------------------------

  installLinkHandlers(run);
  const alarm = new Alarm();
  let provenNow = -Infinity; // the time of the latest timer that fired: the run acts on its own only past it
  for (;;) {
    run.continueAsNewSuggested = continueAsNewDue(tuning);
    run.settle(Date.now(), () => run.status());
    if (run.announcements.length > 0) await announcePending(run);
    const step = nextStep(run, provenNow, Date.now());
    const seen = run.revision;
    switch (step.kind) {
      case 'delete':
        await deleteLinkStep(run, step.ask, tuning);
        break;
      case 'load':
      case 'reload':
        await load(step.kind === 'reload');
        break;
      case 'refresh':
      case 'recheck':
      case 'force':
        await shared(step);
        break;
      case 'warn':
        warnRefreshTokenExpiry(run);
        break;
      case 'wait':
        publish();
        alarm.arm(step.until);
        await condition(() => run.revision !== seen || alarm.fired || continueAsNewDue(tuning));
        if (alarm.fired) provenNow = Math.max(provenNow, alarm.take());
        break;
      case 'finish':
      case 'continueAsNew':
        publish();
        // Answered handlers return first; a request that arrives meanwhile is served by this run.
        await condition(() => allHandlersFinished() || run.revision !== seen);
        if (run.revision !== seen) break;
        if (step.kind === 'finish') return;
        return continueAsNew<typeof linkWorkflow>({ ...input, carried: run.carried() });
    }
  }
}
