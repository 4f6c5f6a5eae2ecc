// One workflow per (provider, user) link, written as one actor: the refresh protocol, then the main loop that runs it,
// the only code that runs activities, upserts search attributes and changes the link. Beside it: nextStep decides what
// the loop does next (link-state.ts, pure); handlers only validate, enqueue and await their answer (link-handlers.ts);
// the loop's other steps and effects are in link-effects.ts and link-delete.ts.
import { allHandlersFinished, condition, continueAsNew } from '@temporalio/workflow';
import type { LinkSnapshot } from '../core/types.js';
import { agentFailure, agentFailureOrRethrow, refreshRejection, toAgentFailure, unreadableRow } from './failures.js';
import { deleteLinkStep } from './link-delete.js';
import { Alarm, continueAsNewDue, gaveUp, linkActivities, ownRefreshEnded, Publisher, reloadRelinkedRow, warn, warnRefreshTokenExpiry } from './link-effects.js';
import { installLinkHandlers } from './link-handlers.js';
import { LinkRun, nextStep, type FirstStepRequests } from './link-state.js';
import type { LinkWorkflowInput } from './messages.js';
import { DEFAULT_TUNING, httpDeadlineMs } from './policies.js';
import { announcePending } from './webhook-delivery.js';

/** A token reported refused was already in use: replication lag concerns new tokens, so its check has one attempt. */
const REPORTED_TOKEN_ATTEMPTS = 1;

export async function linkWorkflow(input: LinkWorkflowInput): Promise<void> {
  const tuning = { ...DEFAULT_TUNING, ...input.tuning };
  const run = new LinkRun(input, tuning, Date.now());
  const { key } = run;
  const { exchangeRefreshToken, persistRotatedTokens, validateAccessToken, loadLink, recordRefreshFailure } = linkActivities(tuning);
  const publisher = new Publisher(run);

  // ---- The refresh protocol: exchange → persist → validate, and how failures become answers ---------------------------

  /**
   * The exchange's answer is recorded by Temporal before persist runs: a crash in between loses no rotation. On a
   * run's first step (`first`) the run holds no copy: the exchange reads the row and exchanges only if it is due.
   * Returns whether the requests waiting went through a refresh (false: only the row was read).
   */
  async function refresh(force: boolean, first?: FirstStepRequests): Promise<boolean> {
    const current = run.link;
    if (current && !current.hasRefreshToken) return true; // nothing to exchange (refused for good): served from the row, or reauth_required
    // Saved but not validated (validation gave up): validate again rather than rotate again, while it lives.
    const expired = current?.expiresAt && Date.parse(current.expiresAt) <= Date.now();
    if (current && !force && run.validation === 'unvalidated' && !expired) return validate(current);
    let exchanged;
    try {
      exchanged = await exchangeRefreshToken({ ...key, expectedVersion: current?.version, firstStep: first, httpTimeoutMs: httpDeadlineMs(tuning.exchangeAttemptMs) });
    } catch (err) {
      if (!current && unreadableRow(err)) throw toAgentFailure(err); // as loadLink would fail: no link, unknown provider
      run.exchanging();
      const rejected = refreshRejection(err);
      const expectedVersion = current?.version ?? rejected?.version;
      if (!rejected || expectedVersion === undefined) throw gaveUp(run, 'token exchange gave up; the stored tokens are unchanged', err);
      // Refused for good: the row records it (or holds a newer grant) and the request hears reauth_required.
      const { providerError, unansweredSince } = rejected;
      const recorded = await recordRefreshFailure({ ...key, expectedVersion, providerError, unansweredSince });
      return run.refused(recorded.link, recorded.outcome === 'adopted', unansweredSince);
    }
    if (exchanged.kind === 'current') return run.loaded(exchanged.link); // a first step with nothing due
    run.exchanging();
    // Another writer (a re-link, another run) changed the row first: its tokens are the link's.
    if (exchanged.kind === 'link_changed') return run.adopted(await loadLink(key), true);
    const persisted = await persistRotatedTokens({ ...key, expectedVersion: exchanged.version, tokens: exchanged.tokens });
    if (persisted.outcome === 'adopted') return run.adopted(persisted.link, true);
    run.saved(persisted.link);
    return validate(persisted.link);
  }

  /** A new token is checked at the provider before anyone gets it (replication lag: 401s are retried). */
  async function validate(current: LinkSnapshot): Promise<true> {
    if (!run.validationUnchecked) {
      const verdict = await check(current, tuning.unauthorizedAttempts, 'validation gave up; the new tokens stay saved and the next request validates again');
      if (verdict === 'not_checked') run.validationUnchecked = true; // no validateUrl: later refreshes skip the call
      if (verdict === 'invalid') {
        run.validation = 'rejected';
        warn(run, 'provider rejected the newly issued access token; the next request refreshes again', 'access token rejected by the provider');
        throw agentFailure('provider_unavailable', 'the provider rejected the newly issued access token; retry to refresh again');
      }
    }
    run.validated(current.version);
    return true;
  }

  /** A token reported refused (or a force meeting a promised one): refused, refreshed at once; accepted, it stays. */
  async function recheck(): Promise<void> {
    const verdict = await check(run.link!, REPORTED_TOKEN_ATTEMPTS, 'checking a token reported as refused failed; it stays current');
    // A provider without a validateUrl cannot be asked: the report (or the operator's force) is taken as said.
    if (verdict === 'valid' || verdict === 'rate_limited') return;
    run.validation = 'rejected';
    warn(run, 'the provider refuses the current access token (reported by an agent); refreshing', 'access token rejected by the provider');
    await refresh(true);
  }

  /** refreshNow / requestRefresh: a token agents were promised is checked first; still accepted, the refresh waits for its told expiry. */
  async function forceRefresh(nowMs: number): Promise<void> {
    if (!run.promised(nowMs)) return void (await refresh(true));
    const version = run.link!.version;
    await recheck();
    if (run.link!.version === version && run.promised(nowMs)) run.forceDeferred = true;
  }

  /** The provider's verdict on the access token; an activity that gave up warns and answers provider_unavailable. */
  async function check(current: LinkSnapshot, unauthorizedAttempts: number, onGiveUp: string) {
    try {
      const httpTimeoutMs = httpDeadlineMs(tuning.validateAttemptMs);
      const verdict = await validateAccessToken({ ...key, accessToken: current.accessToken, httpTimeoutMs, unauthorizedAttempts });
      run.counters.validations++;
      return verdict;
    } catch (err) {
      throw gaveUp(run, onGiveUp, err);
    }
  }

  // ---- The main loop -------------------------------------------------------------------------------------------------

  /** A refresh or check: every request waiting when it ends shares its outcome (N agents, one exchange). */
  async function shared(work: () => Promise<boolean | void>, own = false): Promise<void> {
    if (own) run.counters.proactiveRefreshes++;
    let failure;
    let refreshed; // false: a first step that only read the row, and nobody waiting went through a refresh
    try {
      refreshed = await run.during(async () => {
        publisher.publish();
        return await work();
      }, true);
    } catch (err) {
      failure = agentFailureOrRethrow(err);
    }
    if (own) ownRefreshEnded(run, failure, Date.now());
    if (failure && !run.link) run.failAll(failure); // a first step that failed: nothing is loaded to answer from
    else if (refreshed !== false) run.shareOutcome(failure, () => run.status());
  }

  installLinkHandlers(run);
  const alarm = new Alarm();
  // Each turn answers what needs no engine work (settle), announces link events, then takes the one step nextStep names.
  for (;;) {
    run.continueAsNewSuggested = continueAsNewDue(tuning);
    run.settle(Date.now(), () => run.status());
    if (run.announcements.length > 0) await announcePending(run);
    const step = nextStep(run, alarm.provenNow, Date.now());
    const seen = run.revision;
    const changed = () => run.revision !== seen; // a handler enqueued or touched something since nextStep decided
    if (step.kind === 'delete') await deleteLinkStep(run, step.ask, tuning);
    else if (step.kind === 'reload') await reloadRelinkedRow(run, loadLink);
    else if (step.kind === 'load') await shared(() => refresh(false, run.firstStep()));
    else if (step.kind === 'refresh') await shared(() => refresh(step.force), step.own);
    else if (step.kind === 'recheck') await shared(recheck);
    else if (step.kind === 'force') await shared(() => forceRefresh(step.nowMs ?? Date.now()));
    else if (step.kind === 'warn') warnRefreshTokenExpiry(run);
    else if (step.kind === 'wait') {
      publisher.publish();
      await alarm.wait(step.until, () => changed() || continueAsNewDue(tuning));
    } else {
      // finish or continueAsNew. Answered handlers return first; a request that arrives meanwhile is served by this run.
      publisher.publish();
      await condition(() => allHandlersFinished() || changed());
      if (changed()) continue;
      if (step.kind === 'finish') return;
      return continueAsNew<typeof linkWorkflow>({ ...input, carried: run.carried() });
    }
  }
}
