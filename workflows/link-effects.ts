// What the link run's main loop uses besides its protocol: its activities' stubs, search attributes and details for
// operators, its one timer, the reload after a re-link, its warnings. Called only from the main loop (workflows/link.ts).
import { CancellationScope, condition, log, proxyActivities, setCurrentDetails, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { ExtauthActivities } from '../activities/index.js';
import type { LinkState } from '../core/types.js';
import { agentFailureOrRethrow, failureMessage, toAgentFailure } from './failures.js';
import type { LinkRun } from './link-state.js';
import { activityOptions, type Tuning } from './policies.js';
import { ExtauthState, linkIdentity } from './search-attributes.js';
import { currentDetails, linkState } from './view.js';

/** The link run's activities, each with its own timeouts and retries (workflows/policies.ts). */
export function linkActivities(tuning: Tuning) {
  const options = activityOptions(tuning);
  // Normal activities only: each completion is an event, so live runs and replays see the same order.
  const { exchangeRefreshToken } = proxyActivities<ExtauthActivities>(options.exchange);
  const { persistRotatedTokens } = proxyActivities<ExtauthActivities>(options.persist);
  const { validateAccessToken } = proxyActivities<ExtauthActivities>(options.validate);
  const { loadLink } = proxyActivities<ExtauthActivities>(options.load);
  const { recordRefreshFailure } = proxyActivities<ExtauthActivities>(options.recordFailure);
  return { exchangeRefreshToken, persistRotatedTokens, validateAccessToken, loadLink, recordRefreshFailure };
}
type LinkActivities = ReturnType<typeof linkActivities>;

/** The shortest timer the run sets: a plan already due fires in the next workflow task. */
const MIN_TIMER_MS = 1;

/**
 * Search attributes when the state changes (one history event each), the Web UI's current details always. The loop
 * publishes when a refresh starts and before it waits, not after each step: a state lasting one task is not upserted.
 * `refreshing` lasts only while a refresh is in flight: it shows in the status and the current details, never in
 * ExtauthState, which would cost two events per refresh (docs/performance.md, 4 December 2026).
 */
export class Publisher {
  private published: LinkState | undefined;

  constructor(private readonly run: LinkRun) {}

  publish(): void {
    const { run } = this;
    if (!run.link) return;
    const view = run.view();
    const state = linkState({ ...view, refreshing: false });
    if (state !== this.published) {
      upsertSearchAttributes([...(this.published === undefined ? linkIdentity(run.key) : []), { key: ExtauthState, value: state }]);
      this.published = state;
    }
    setCurrentDetails(currentDetails(view));
  }
}

/**
 * One timer at a time, kept while it fires no later than the plan needs (the loop re-plans when it fires): a new timer
 * costs two history events, so a request that only moves the idle finish later sets none.
 */
export class Alarm {
  /** The time of the latest timer that fired (a fact of history): the run acts on its own only past it (nextStep). */
  provenNow = -Infinity;
  private armed: { at: number; fired: boolean; scope: CancellationScope } | undefined;

  /** Waits until `woken()` or the timer for `until` (none: no timer) fires. */
  async wait(until: number | undefined, woken: () => boolean): Promise<void> {
    this.arm(until);
    await condition(() => woken() || this.armed?.fired === true);
    if (!this.armed?.fired) return;
    this.provenNow = Math.max(this.provenNow, this.armed.at);
    this.armed = undefined;
  }

  private arm(until: number | undefined): void {
    if (until === undefined || (this.armed && this.armed.at <= until)) return;
    this.armed?.scope.cancel();
    const next = { at: until, fired: false, scope: new CancellationScope() };
    next.scope.run(() => sleep(Math.max(until - Date.now(), MIN_TIMER_MS))).then(() => void (next.fired = true), () => undefined);
    this.armed = next;
  }
}

/** A re-link rewrote the row: read it again. A failed reload only warns; the next request reads it. */
export async function reloadRelinkedRow(run: LinkRun, loadLink: LinkActivities['loadLink']): Promise<void> {
  run.reloadRequested = false;
  run.validation = 'valid';
  try {
    run.relinkedRow(await run.during(() => loadLink(run.key), false));
  } catch (err) {
    warn(run, 'reloading the re-linked row failed', agentFailureOrRethrow(err).message);
  }
}

/** The server's suggestion, or our own bound for runs that stay open on timers for days. */
export function continueAsNewDue(tuning: Tuning): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength > tuning.maxHistoryEvents;
}

export function warnRefreshTokenExpiry(run: LinkRun): void {
  const link = run.link!;
  run.warnedExpiryVersion = link.version;
  log.warn('refresh token expires soon; the user must re-authenticate before then unless a refresh renews it', {
    provider: run.key.providerId,
    link: run.key.userId,
    refreshTokenExpiresAt: link.refreshTokenExpiresAt,
    tokenVersion: link.version,
  });
  if (link.refreshTokenExpiresAt) run.announce({ type: 'link.refresh_expiring', episode: link.refreshTokenExpiresAt, refreshTokenExpiresAt: link.refreshTokenExpiresAt });
}

/** Records `cause` as the link's last error and logs it (provider, link, token version; never a token). */
export function warn(run: LinkRun, message: string, cause: string): void {
  run.lastError = cause;
  log.warn(message, { provider: run.key.providerId, link: run.key.userId, cause, tokenVersion: run.link?.version });
}

/** An activity that gave up: warned, and turned into the failure agents hear. */
export function gaveUp(run: LinkRun, message: string, err: unknown): unknown {
  warn(run, message, failureMessage(err));
  return toAgentFailure(err);
}

/** A refresh the run made on its own ended: a failure is retried later with backoff (agents still refresh on demand). */
export function ownRefreshEnded(run: LinkRun, failure: unknown, now: number): void {
  if (!failure) return run.proactiveSucceeded();
  const delayMs = run.proactiveFailed(now);
  warn(run, `refresh ahead of expiry failed; the run tries again in ${delayMs / 1000} s, agents still refresh on demand`, failureMessage(failure));
}
