// A link run's state, the answers it gives without engine work, and the decision of what its main loop does next.
// Pure: no commands, no clock reading (times come in as arguments), so tests/link-state.test.ts covers the protocol's
// decisions in milliseconds and replay decides exactly as the live run did.
import type { ApplicationFailure } from '@temporalio/common';
import { freshEnough } from '../core/freshness.js';
import { gitCredentials } from '../core/git.js';
import type { LinkCounters, LinkKey, LinkSnapshot, LinkStatus, TokenGrant, Validation } from '../core/types.js';
import { agentFailure } from './failures.js';
import type { CachedToken, DeleteLinkRequest, DeleteLinkResult, GetTokenRequest, LinkWorkflowInput } from './messages.js';
import { DEFAULT_TUNING, type Tuning } from './policies.js';
import { activeUntil, proactiveRefreshDue, proactiveRetryDelayMs, refreshExpiryWarningAt, toldExpiry } from './schedule.js';
import { linkStatus, type LinkView } from './view.js';
import type { Announcement } from './webhook-delivery.js';

/** A request's answer, set by the main loop; the handler that enqueued it returns or throws it. */
export type Answer<T> = { value: T } | { error: ApplicationFailure };

/** getToken. `rounds`: shared refreshes it has been through (a second one, forced, only when the first left it short). */
export interface TokenAsk {
  kind: 'token';
  request: GetTokenRequest;
  /** The reported fingerprint (if any) was compared with the current token, and checked at the provider if it matched. */
  reportChecked: boolean;
  rounds: number;
  /**
   * The run's clock when the request arrived. Its `nowMs` (the agent's clock) ages by the time it waits in the run, so a
   * request answered after a long refresh is judged at the time it is answered, not at the time it was sent.
   */
  receivedAt?: number;
  answer?: Answer<TokenGrant>;
}
/** refreshNow (answered with the status) or requestRefresh (nobody waits for the answer). */
export interface ForceAsk {
  kind: 'force';
  nowMs?: number;
  answer?: Answer<LinkStatus>;
}
export interface DescribeAsk {
  kind: 'describe';
  answer?: Answer<LinkStatus>;
}
/** `link delete`: answered by the main loop's delete step (workflows/link-delete.ts). */
export interface DeleteAsk {
  kind: 'delete';
  request: DeleteLinkRequest;
  answer?: Answer<DeleteLinkResult>;
}
export type Ask = TokenAsk | ForceAsk | DescribeAsk | DeleteAsk;

/** What a token request still needs from the engine before it can be answered. */
export type TokenNeed = 'load' | 'recheck' | 'refresh' | 'forced refresh';

export type Step =
  | { kind: 'delete'; ask: DeleteAsk } // link delete: before anything else
  | { kind: 'reload' } // a re-link rewrote the row: read it again
  | { kind: 'load' } // someone asks and nothing is loaded yet
  | { kind: 'force'; nowMs?: number } // refreshNow / requestRefresh
  | { kind: 'recheck' } // an agent reported the current token refused: ask the provider
  | { kind: 'refresh'; force: boolean; own: boolean } // for waiting requests, or on the run's own schedule (own)
  | { kind: 'warn' } // the refresh token expires soon: log it once per token version
  | { kind: 'continueAsNew' }
  | { kind: 'finish' }
  | { kind: 'wait'; until?: number };

export class LinkRun {
  readonly key: LinkKey;
  readonly tuning: Tuning;
  link: LinkSnapshot | undefined;
  validation: Validation;
  lastError = '';
  /** Validation answered 'not_checked' (the provider has no validateUrl): later refreshes of this run skip it. */
  validationUnchecked = false;
  readonly runStartedAt: number;
  lastTouched: number;
  proactiveFailures: number;
  proactiveRetryAt: number | undefined;
  /** A forced refresh waits for the told expiry of the token agents hold (the provider still accepted it). */
  forceDeferred: boolean;
  /** Version of a token this run validated and has not handed out yet: nobody holds it, so it was promised nothing. */
  unservedVersion: number | undefined;
  /** Token version whose coming refresh-token expiry was already logged. */
  warnedExpiryVersion: number | undefined;
  readonly counters: LinkCounters;
  /** Requests waiting for the main loop, in arrival order. */
  asks: Ask[] = [];
  /** A re-link arrived: the row is read again before anything else. */
  reloadRequested = false;
  /** Bumped when a re-link's reload completes: agents waiting for re-authentication ask again. */
  relinks = 0;
  waitingForRelink = 0;
  /** A refresh or check is in flight (status `refreshing`); `working`: any engine work, a load included. */
  refreshing = false;
  working = false;
  continueAsNewSuggested = false;
  /** The row was deleted (or found absent by a delete): every request is answered link_not_found and the run finishes. */
  deleted = false;
  /** Bumped on every change a handler makes: the main loop wakes on it. */
  revision = 0;
  /** The worker has webhook endpoints (loadLink says so): link events are announced (workflows/webhook-delivery.ts). */
  webhooks = false;
  /** Link events the main loop announces next. */
  announcements: Announcement[] = [];
  /** The reauthRequiredSince whose recovery this run announced. */
  recoveryAnnounced: string | undefined;

  constructor(input: LinkWorkflowInput, tuning: Tuning, now: number) {
    const carried = input.carried;
    this.key = { providerId: input.providerId, userId: input.userId };
    this.tuning = tuning;
    this.validation = carried?.validation ?? 'valid';
    this.runStartedAt = now;
    this.lastTouched = carried?.lastTouched ?? now;
    this.proactiveFailures = carried?.proactiveFailures ?? 0;
    this.proactiveRetryAt = carried?.proactiveRetryAt;
    this.forceDeferred = carried?.forceDeferred ?? false;
    const zero = { requests: 0, refreshes: 0, exchanges: 0, validations: 0, adoptedFromRow: 0, failedRequests: 0, proactiveRefreshes: 0 };
    this.counters = { ...zero, ...carried?.counters };
  }

  /** What continue-as-new carries: the retry plan and a deferred force are part of what agents were told. */
  carried(): NonNullable<LinkWorkflowInput['carried']> {
    const { counters, validation, lastTouched, proactiveFailures, proactiveRetryAt, forceDeferred } = this;
    return { counters, validation, lastTouched, proactiveFailures, proactiveRetryAt, forceDeferred };
  }

  // ---- handlers: enqueue and touch -------------------------------------------------------------------------------

  /** `now`: the request keeps the link active (absent for status reads). */
  enqueue<A extends Ask>(ask: A, now?: number): A {
    this.asks.push(ask);
    if (now !== undefined) this.lastTouched = now;
    this.revision++;
    return ask;
  }

  touch(now: number): void {
    this.lastTouched = now;
    this.revision++;
  }

  relinked(now: number): void {
    this.lastError = '';
    this.reloadRequested = true;
    this.touch(now);
  }

  // ---- the told expiry and freshness (workflows/schedule.ts) -------------------------------------------------------

  /** The expiry agents are told for the current token: a promise where a refresh ends it. */
  toldAt(): number | null {
    return toldExpiry({ link: this.link, retryAt: this.proactiveRetryAt, since: this.runStartedAt });
  }

  /** A refresh would end the token that agents were promised until its told expiry. */
  refreshEndsIt(): boolean {
    return !!this.link?.schedule?.refreshEndsOldAccessToken && !!this.link.hasRefreshToken;
  }

  /**
   * Fresh enough for a request that wants `minValidSeconds`. Where a refresh ends the old token, agents holding it were
   * promised its told expiry, so the run does not replace it before then: it is served with the life it has.
   */
  fresh(minValidSeconds: number, nowMs: number): boolean {
    if (!this.refreshEndsIt()) return freshEnough(this.link!, minValidSeconds, nowMs);
    const told = this.toldAt();
    if (told === null || this.promised(nowMs)) return true;
    return freshEnough({ expiresAt: new Date(told).toISOString(), lifetimeSeconds: this.link!.lifetimeSeconds }, minValidSeconds, nowMs);
  }

  /** Agents may hold the current token under a promise that has not run out yet. */
  promised(nowMs: number): boolean {
    const told = this.toldAt();
    const link = this.link;
    return this.refreshEndsIt() && !!link?.accessToken && this.validation === 'valid' && this.unservedVersion !== link.version && told !== null && nowMs < told;
  }

  usable(minValidSeconds: number, nowMs: number): boolean {
    return !!this.link?.accessToken && this.validation === 'valid' && this.fresh(minValidSeconds, nowMs);
  }

  reauthRequired(): ApplicationFailure {
    return agentFailure('reauth_required', this.link?.failureReason || 'no refresh token is stored for this link; the user must re-authenticate');
  }

  /** Without a refresh token (refused for good) the stored access token is served only while it still meets the request. */
  grant(minValidSeconds: number, nowMs: number): TokenGrant {
    const link = this.link!;
    if (!link.hasRefreshToken && !this.usable(minValidSeconds, nowMs)) throw this.reauthRequired();
    if (this.validation !== 'valid') throw agentFailure('provider_unavailable', this.lastError || 'the access token is not validated yet');
    const { username, password } = gitCredentials(link.providerType, link.accessToken);
    const told = this.toldAt();
    return { accessToken: link.accessToken, tokenType: link.tokenType, expiresAt: told === null ? null : new Date(told).toISOString(), username, password };
  }

  /** A grant for an agent: from now on the token is held, and its told expiry is a promise. */
  handOut(minValidSeconds: number, nowMs: number): TokenGrant {
    const given = this.grant(minValidSeconds, nowMs);
    this.unservedVersion = undefined;
    // The first token served after reauth_required (a re-link since): link.recovered.
    const since = this.link!.reauthRequiredSince;
    if (since && this.link!.hasRefreshToken && this.recoveryAnnounced !== since) {
      this.recoveryAnnounced = since;
      this.announce({ type: 'link.recovered', episode: since });
    }
    return given;
  }

  /** Every row the run learns of comes through here: it also says whether the worker announces link events. */
  private hold(link: LinkSnapshot): void {
    this.link = link;
    this.webhooks = link.webhooks === true;
  }

  /** Queues a link event for the main loop, when the worker has webhook endpoints. */
  announce(announcement: Announcement): void {
    if (this.webhooks) this.announcements.push(announcement);
  }

  // ---- what the main loop learns from its activities -------------------------------------------------------------

  /** `work` is engine work: the cachedToken query answers nothing meanwhile; a refresh or check also shows as `refreshing`. */
  async during<T>(work: () => Promise<T>, refreshing: boolean): Promise<T> {
    this.working = true;
    this.refreshing = refreshing;
    try {
      return await work();
    } finally {
      this.working = this.refreshing = false;
    }
  }

  /** An exchange was made (or tried): counted as the status's refreshes and exchanges; a deferred force is done. */
  exchanging(): void {
    this.counters.refreshes++;
    this.counters.exchanges++;
    this.forceDeferred = false;
  }

  /** The row a re-link rewrote: valid as the user just authorised it; agents waiting for the re-link ask again. */
  relinkedRow(link: LinkSnapshot): void {
    this.hold(link);
    this.proactiveSucceeded();
    this.relinks++;
  }

  /** The row as read; false: no refresh happened (the main loop's `refresh` returns it). */
  loaded(link: LinkSnapshot): false {
    this.hold(link);
    return false;
  }

  /** Another writer's tokens (or the provider's refusal recorded) are now the link's: nothing left to validate. */
  adopted(link: LinkSnapshot, fromRow: boolean): true {
    this.hold(link);
    this.validation = 'valid';
    if (fromRow) this.counters.adoptedFromRow++;
    return true;
  }

  /**
   * The provider refused the grant; the row records it (or holds a newer grant, adopted). A token the provider itself
   * refused before (a reported 401 it confirmed) stays refused: without a refresh token, nobody is served it again.
   * So does the held token when an earlier exchange may have rotated (`unansweredSince`) at a provider whose refresh
   * ends the old access token: that rotation, whose answer was lost, already ended it.
   */
  refused(link: LinkSnapshot, adoptedNewer: boolean, unansweredSince: string | null = null): true {
    const endedByLostRotation = unansweredSince !== null && link.schedule?.refreshEndsOldAccessToken === true;
    const refusedToken = (this.validation === 'rejected' || endedByLostRotation) && !adoptedNewer;
    this.adopted(link, adoptedNewer);
    if (refusedToken) this.validation = 'rejected';
    // The link enters reauth_required here, once: later requests are refused from the row, with no new refusal.
    if (!adoptedNewer) this.announce({ type: 'link.reauth_required', episode: `v${link.version}`, reason: link.failureReason });
    return true;
  }

  /** New tokens are saved; validation is next. */
  saved(link: LinkSnapshot): void {
    this.hold(link);
    this.validation = 'unvalidated';
  }

  validated(version: number): void {
    this.validation = 'valid';
    this.unservedVersion = version;
    this.lastError = '';
  }

  proactiveSucceeded(): void {
    this.proactiveFailures = 0;
    this.proactiveRetryAt = undefined;
  }

  /** A refresh nobody asked for failed: tried again later with backoff. Returns the delay. */
  proactiveFailed(now: number): number {
    this.proactiveFailures++;
    const delayMs = proactiveRetryDelayMs(this.proactiveFailures);
    this.proactiveRetryAt = now + delayMs;
    return delayMs;
  }

  /** Every request still waiting when a shared refresh or check ends had joined it: it shares the outcome. */
  shareOutcome(failure: ApplicationFailure | undefined, status: () => LinkStatus): void {
    for (const ask of this.asks) {
      if (ask.kind === 'describe' || ask.kind === 'delete') continue;
      if (failure) ask.answer = { error: failure };
      else if (ask.kind === 'force') ask.answer = { value: status() };
      else if (!ask.reportChecked) ask.reportChecked = true;
      else ask.rounds++;
    }
    this.dropAnswered();
  }

  /** Fails every request not answered yet. */
  failAll(failure: ApplicationFailure): void {
    for (const ask of this.asks) ask.answer ??= { error: failure };
    this.dropAnswered();
  }

  /** The requests a run's first step hands the exchange (it reads the row itself), or undefined when none would refresh. */
  firstStep(): FirstStepRequests | undefined {
    const tokens = this.asks.flatMap((ask) => (ask.kind === 'token' ? [ask.request] : []));
    const forces = this.asks.flatMap((ask) => (ask.kind === 'force' ? [ask.nowMs ?? null] : []));
    if (tokens.length + forces.length === 0) return undefined;
    return { tokens, forces, carried: this.carried(), runStartedAt: this.runStartedAt };
  }

  // ---- answers without engine work ---------------------------------------------------------------------------------

  /** What a token request needs next, or undefined when it can be answered now. `clockNow`: the workflow's clock. */
  need(ask: TokenAsk, clockNow: number): TokenNeed | undefined {
    const link = this.link;
    if (!link) return 'load';
    const { minValidSeconds, rejectedFingerprint } = ask.request;
    const nowMs = agentNow(ask, clockNow);
    if (!ask.reportChecked) {
      if (link.accessTokenFingerprint === rejectedFingerprint && this.validation === 'valid' && link.hasRefreshToken) return 'recheck';
      ask.reportChecked = true;
    }
    if (ask.rounds === 0) return this.usable(minValidSeconds, nowMs) || !link.hasRefreshToken ? undefined : 'refresh';
    // A refresh that only validated the stored token again can leave it short of the request: exchange once more.
    if (ask.rounds === 1 && link.hasRefreshToken && this.validation === 'valid' && !this.fresh(minValidSeconds, nowMs)) return 'forced refresh';
    return undefined;
  }

  /** Answers every request that needs no engine work; the others stay queued for nextStep. */
  settle(clockNow: number, status: () => LinkStatus): void {
    if (this.deleted) return this.failAll(linkDeleted(this.key));
    for (const ask of this.asks) {
      if (!this.link) break;
      if (ask.kind === 'describe') ask.answer = { value: status() };
      if (ask.kind !== 'token' || this.need(ask, clockNow) !== undefined) continue;
      try {
        ask.answer = { value: this.handOut(ask.request.minValidSeconds, agentNow(ask, clockNow)) };
      } catch (err) {
        ask.answer = { error: err as ApplicationFailure };
      }
    }
    this.dropAnswered();
  }

  private dropAnswered(): void {
    this.asks = this.asks.filter((ask) => !ask.answer);
  }

  // ---- the run's own schedule --------------------------------------------------------------------------------------

  /** When the run refreshes on its own (ahead of expiry, a retry, a deferred force; keep-alive is the sweep's), if it does. */
  nextOwnRefresh(): number | undefined {
    if (this.refreshing) return undefined;
    const { link, lastTouched, proactiveRetryAt: retryAt, runStartedAt: since } = this;
    const own = proactiveRefreshDue({ link, lastTouched, retryAt, since, keepAlive: this.tuning.runKeepAlive });
    const deferred = this.forceDeferred ? (this.toldAt() ?? undefined) : undefined;
    return own === undefined || deferred === undefined ? (own ?? deferred) : Math.min(own, deferred);
  }

  /** When the coming refresh-token expiry should be logged, unless it already was for this token version. */
  expiryWarningAt(): number | undefined {
    const link = this.link;
    return link && this.warnedExpiryVersion !== link.version ? refreshExpiryWarningAt(link) : undefined;
  }

  /** Idle runs finish (the next request opens a new one), but not while proactive refresh keeps the link active. */
  idleAt(): number {
    return Math.max(this.lastTouched + this.tuning.idleFinishMs, activeUntil({ link: this.link, lastTouched: this.lastTouched }) ?? -Infinity);
  }

  /** The cachedToken query: null whenever only the getToken update may answer (work in flight, not validated, failed). */
  cached(clockNow: number): CachedToken | null {
    const link = this.link;
    if (this.working || this.asks.length > 0 || this.reloadRequested || this.deleted) return null;
    if (!link?.accessToken || !link.hasRefreshToken || this.validation !== 'valid' || this.lastError) return null;
    // A query records nothing: the first hand-out of a new token goes through the update, which marks it held.
    if (this.refreshEndsIt() && this.unservedVersion === link.version) return null;
    // Likewise the first token after a re-link: its hand-out announces link.recovered.
    if (this.webhooks && link.reauthRequiredSince && this.recoveryAnnounced !== link.reauthRequiredSince) return null;
    const schedule = link.schedule;
    const touchAfter = schedule && schedule.refreshAheadSeconds > 0 ? new Date(this.lastTouched + (schedule.activeWindowSeconds * 1000) / 2).toISOString() : null;
    const grant = this.grant(0, clockNow);
    return { grant, expiresAt: grant.expiresAt, lifetimeSeconds: link.lifetimeSeconds, touchAfter, firm: this.refreshEndsIt() };
  }

  view(): LinkView {
    const { key, link, validation, lastError, refreshing, counters, waitingForRelink } = this;
    const refreshExpiring = link !== undefined && link.hasRefreshToken && this.warnedExpiryVersion === link.version;
    return { key, link, validation, lastError, refreshing, counters, refreshExpiring, nextProactiveRefreshAt: this.nextOwnRefresh(), waitingForRelink };
  }

  status(): LinkStatus {
    return linkStatus(this.view());
  }
}

/** What every request hears once the link is deleted (exit 5, as for a link that never existed). */
export function linkDeleted(key: LinkKey): ApplicationFailure {
  return agentFailure('link_not_found', `no link for ${key.providerId}/${key.userId}: it was deleted (\`extauth link delete\`); store it again to use it`);
}

/** The agent's clock now, as the request's `nowMs` aged by its wait in the run; the run's clock when it sent none. */
export function agentNow(ask: TokenAsk, clockNow: number): number {
  const { nowMs } = ask.request;
  if (nowMs === undefined) return clockNow;
  return nowMs + Math.max(0, clockNow - (ask.receivedAt ?? clockNow));
}

/**
 * What a run's first step hands the exchange activity, which reads the row itself: the requests waiting and what the
 * run knows besides the row, so that the activity decides as the run would (refreshDueOnFirstStep).
 */
export interface FirstStepRequests {
  tokens: GetTokenRequest[];
  /** The `nowMs` of each forced refresh waiting (requestRefresh from the keep-alive sweep, refreshNow). */
  forces: Array<number | null>;
  carried: NonNullable<LinkWorkflowInput['carried']>;
  runStartedAt: number;
}

/**
 * Whether the requests waiting on a run's first step need `link` refreshed, decided by the run's own rules (`need`,
 * `promised`) on the row the exchange activity just read. Only a refresh the run would make anyway is made early:
 * a token request that only needs the row, or a reported token still to be checked, leaves it to the main loop.
 */
export function refreshDueOnFirstStep(key: LinkKey, first: FirstStepRequests, link: LinkSnapshot, clockNow: number): boolean {
  const probe = new LinkRun({ ...key, carried: first.carried }, DEFAULT_TUNING, first.runStartedAt);
  probe.loaded(link);
  if (!link.hasRefreshToken) return false;
  if (first.forces.some((nowMs) => !probe.promised(nowMs ?? clockNow))) return true;
  if (first.forces.length > 0) return false; // the main loop checks a promised token first (forceRefresh)
  return first.tokens.some((request) => probe.need({ kind: 'token', request, reportChecked: !request.rejectedFingerprint, rounds: 0 }, clockNow) === 'refresh');
}

/**
 * What the main loop does next. Requests come first (a re-link, then loading, forced refreshes, reported tokens,
 * refreshes for requests); then the run's own plan. `provenNow` is the latest time a timer of the run has fired at:
 * the run acts on its own only because a timer fired (an event in history), never because the clock passed a
 * threshold, so replay decides alike even when the workflow clock differs.
 */
export function nextStep(run: LinkRun, provenNow: number, clockNow: number): Step {
  if (run.deleted) return { kind: 'finish' };
  const deletion = run.asks.find((ask): ask is DeleteAsk => ask.kind === 'delete');
  if (deletion) return { kind: 'delete', ask: deletion };
  if (run.reloadRequested) return { kind: 'reload' };
  if (run.asks.length > 0 && !run.link) return { kind: 'load' };
  const force = run.asks.find((ask): ask is ForceAsk => ask.kind === 'force');
  if (force) return { kind: 'force', nowMs: force.nowMs };
  const needs = new Set(run.asks.flatMap((ask) => (ask.kind === 'token' ? [run.need(ask, clockNow)] : [])));
  if (needs.has('recheck')) return { kind: 'recheck' };
  if (needs.has('forced refresh')) return { kind: 'refresh', force: true, own: false };
  const refreshAt = run.nextOwnRefresh();
  const ownDue = refreshAt !== undefined && refreshAt <= provenNow;
  // A request that meets the run's own refresh (its timer fired in the same task) joins it: the run keeps its plan.
  if (needs.has('refresh')) return { kind: 'refresh', force: false, own: ownDue };
  if (run.continueAsNewSuggested) return { kind: 'continueAsNew' };

  const warnAt = run.expiryWarningAt();
  if (ownDue) return { kind: 'refresh', force: false, own: true };
  if (warnAt !== undefined && warnAt <= provenNow) return { kind: 'warn' };
  // Nothing planned keeps the run open: it finishes once idle (not while agents wait for a re-link: they hold it).
  const idleAt = refreshAt === undefined ? run.idleAt() : Infinity;
  if (idleAt <= provenNow) return run.waitingForRelink > 0 ? { kind: 'wait' } : { kind: 'finish' };
  const until = Math.min(refreshAt ?? Infinity, warnAt ?? Infinity, idleAt);
  return { kind: 'wait', until: until === Infinity ? undefined : until };
}
