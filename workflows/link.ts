// One workflow per (provider, user) link: every agent request for the link is served here, one refresh at a time.
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ExtauthActivities } from '../activities/index.js';
import { ActivityFailure as FailureType } from '../core/failures.js';
import { freshEnough } from '../core/freshness.js';
import { gitCredentials } from '../core/git.js';
import type { LinkCounters, LinkSnapshot, LinkState, LinkStatus, TokenGrant, Validation } from '../core/types.js';
import { agentFailure, applicationCause, failureMessage, toAgentFailure } from './failures.js';
import {
  cachedTokenQuery,
  describeUpdate,
  getTokenUpdate,
  getTokenRequestProblem,
  MAX_CLOCK_SKEW_MS,
  refreshNowUpdate,
  relinkedSignal,
  requestRefreshSignal,
  statusQuery,
  touchedSignal,
  type GetTokenRequest,
  type LinkWorkflowInput,
} from './messages.js';
import { activityOptions, DEFAULT_TUNING, httpDeadlineMs } from './policies.js';
import { activeUntil, proactiveRefreshDue, proactiveRetryDelayMs, refreshExpiryWarningAt, toldExpiry } from './schedule.js';
import { ExtauthProvider, ExtauthState, ExtauthUser } from './search-attributes.js';
import { currentDetails, linkState, linkStatus, type LinkView } from './view.js';

export async function linkWorkflow(input: LinkWorkflowInput): Promise<void> {
  const key = { providerId: input.providerId, userId: input.userId };
  const tuning = { ...DEFAULT_TUNING, ...input.tuning };
  const options = activityOptions(tuning);
  const { exchangeRefreshToken } = proxyActivities<ExtauthActivities>(options.exchange);
  // Local activities let SDK 1.24's core write a history that no replay matches when a query is answered while one is
  // in flight and updates arrive in the next task (docs/reliability.md, "Update storms and nondeterminism"). New runs
  // use normal activities; runs recorded before the patch replay with local ones.
  const rowActivities = patched('row-activities-not-local') ? proxyActivities : proxyLocalActivities;
  const { persistRotatedTokens } = rowActivities<ExtauthActivities>(options.persist);
  const { validateAccessToken } = rowActivities<ExtauthActivities>(options.validate);
  const { loadLink } = rowActivities<ExtauthActivities>(options.load);
  const { recordRefreshFailure } = rowActivities<ExtauthActivities>(options.recordFailure);

  let link: LinkSnapshot | undefined;
  let validation: Validation = input.carried?.validation ?? 'valid';
  let lastError = '';
  /** Validation answered 'not_checked' (the provider has no validateUrl): later refreshes of this run skip it. */
  let validationUnchecked = false;
  let refreshing: Promise<void> | undefined;
  const runStartedAt = Date.now();
  let lastTouched = input.carried?.lastTouched ?? runStartedAt;
  /** Bumped when a re-link's reload completes: agents waiting for re-authentication look again. */
  let relinks = 0;
  let waitingForRelink = 0;
  let proactiveFailures = input.carried?.proactiveFailures ?? 0;
  let proactiveRetryAt: number | undefined = input.carried?.proactiveRetryAt;
  /** A forced refresh waits for the told expiry of the token agents hold (the provider still accepted it). */
  let forceDeferred = input.carried?.forceDeferred ?? false;
  /** Version of a token this run validated and has not handed out yet: nobody holds it, so it was promised nothing. */
  let unservedVersion: number | undefined;
  /** Token version whose coming refresh-token expiry was already logged. */
  let warnedExpiryVersion: number | undefined;
  const counters: LinkCounters = {
    requests: 0,
    refreshes: 0,
    exchanges: 0,
    validations: 0,
    adoptedFromRow: 0,
    failedRequests: 0,
    proactiveRefreshes: 0,
    ...input.carried?.counters,
  };

  // Every operation that reads or writes the row runs in this chain, one after another.
  let tail: Promise<unknown> = Promise.resolve();
  let pendingOps = 0; // e.g. a re-link's reload in flight: the cachedToken query must not answer meanwhile
  function serialized<T>(op: () => Promise<T>): Promise<T> {
    pendingOps++;
    const next = tail.then(op);
    tail = next.catch(() => undefined);
    // A separate reaction: the chain's own timing (and so the order of commands) is unchanged.
    const done = () => void pendingOps--;
    next.then(done, done);
    return next;
  }

  async function load(): Promise<void> {
    link = await loadLink(key);
    publish();
  }
  const ensureLoaded = () => serialized(async () => (link ? undefined : load()));

  function remainingSeconds(): number {
    return link?.expiresAt ? (Date.parse(link.expiresAt) - Date.now()) / 1000 : Infinity;
  }

  /** The expiry agents are told for the current token (workflows/schedule.ts): a promise where a refresh ends it. */
  function toldAt(): number | null {
    return toldExpiry({ link, retryAt: proactiveRetryAt, since: runStartedAt });
  }
  const toldIso = (): string | null => {
    const told = toldAt();
    return told === null ? null : new Date(told).toISOString();
  };
  /** A refresh would end the token that agents were promised until its told expiry. */
  const refreshEndsIt = () => !!link?.schedule?.refreshEndsOldAccessToken && !!link.hasRefreshToken;

  /**
   * Fresh enough for a request that wants `minValidSeconds`. Where a refresh ends the old token, agents holding it were
   * promised its told expiry, so the run does not replace it before then: it is served with the life it has, and the
   * agent asks again when that passes.
   */
  function fresh(minValidSeconds: number, nowMs: number): boolean {
    if (!refreshEndsIt()) return freshEnough(link!, minValidSeconds, nowMs);
    const told = toldAt();
    return told === null || promised(nowMs) || freshEnough({ expiresAt: new Date(told).toISOString(), lifetimeSeconds: link!.lifetimeSeconds }, minValidSeconds, nowMs);
  }

  /** Agents may hold the current token under a promise that has not run out yet. */
  function promised(nowMs: number): boolean {
    const told = toldAt();
    return refreshEndsIt() && !!link?.accessToken && validation === 'valid' && unservedVersion !== link.version && told !== null && nowMs < told;
  }

  /** `nowMs`: the agent's clock as sent with its request (recorded in history, so replay decides alike). */
  function usable(minValidSeconds: number, nowMs = Date.now()): boolean {
    return !!link?.accessToken && validation === 'valid' && fresh(minValidSeconds, nowMs);
  }

  function reauthRequired(): ApplicationFailure {
    return agentFailure('reauth_required', link?.failureReason || 'no refresh token is stored for this link; the user must re-authenticate');
  }

  function warn(message: string, cause: string): void {
    lastError = cause;
    log.warn(message, { provider: key.providerId, link: key.userId, cause, tokenVersion: link?.version });
  }

  async function validate(current: LinkSnapshot): Promise<void> {
    // Runs that called the activity here before this patch existed still do on replay (docs/versioning.md).
    if (validationUnchecked && patched('skip-unchecked-validation')) {
      validation = 'valid';
      unservedVersion = current.version;
      lastError = '';
      return;
    }
    let verdict;
    try {
      verdict = await validateAccessToken({
        ...key,
        accessToken: current.accessToken,
        httpTimeoutMs: httpDeadlineMs(tuning.validateAttemptMs),
        unauthorizedAttempts: tuning.unauthorizedAttempts,
      });
    } catch (err) {
      warn('validation gave up; the new tokens stay saved and the next request validates again', failureMessage(err));
      throw toAgentFailure(err);
    }
    counters.validations++;
    if (verdict === 'not_checked') validationUnchecked = true;
    if (verdict === 'invalid') {
      validation = 'rejected';
      warn('provider rejected the newly issued access token; the next request refreshes again', 'access token rejected by the provider');
      throw agentFailure('provider_unavailable', 'the provider rejected the newly issued access token; retry to refresh again');
    }
    validation = 'valid';
    unservedVersion = current.version;
    lastError = '';
  }

  async function refresh(force: boolean): Promise<void> {
    if (!link) await load();
    const current = link!;
    if (!current.hasRefreshToken) return;
    if (!force && validation === 'unvalidated' && remainingSeconds() > 0) return validate(current);

    counters.refreshes++;
    counters.exchanges++;
    forceDeferred = false;
    const expectedVersion = current.version;
    let exchanged;
    try {
      exchanged = await exchangeRefreshToken({ ...key, expectedVersion, httpTimeoutMs: httpDeadlineMs(tuning.exchangeAttemptMs) });
    } catch (err) {
      const cause = applicationCause(err);
      if (cause?.type !== FailureType.RefreshRejected) {
        warn('token exchange gave up; the stored tokens are unchanged', cause?.message ?? (err as Error).message);
        throw toAgentFailure(err);
      }
      const unansweredSince = (cause.details?.[0] as { unansweredSince?: string | null } | undefined)?.unansweredSince ?? null;
      const recorded = await recordRefreshFailure({ ...key, expectedVersion, providerError: cause.message, unansweredSince });
      link = recorded.link;
      if (recorded.outcome === 'adopted') counters.adoptedFromRow++;
      // A token the provider itself refused stays refused: without a refresh token, nobody is served it again.
      if (recorded.outcome === 'adopted' || validation !== 'rejected') validation = 'valid';
      return;
    }
    if (exchanged.kind === 'link_changed') {
      counters.adoptedFromRow++;
      validation = 'valid';
      return load();
    }
    const persisted = await persistRotatedTokens({ ...key, expectedVersion, tokens: exchanged.tokens });
    link = persisted.link;
    if (persisted.outcome === 'adopted') {
      counters.adoptedFromRow++;
      validation = 'valid';
      return;
    }
    validation = 'unvalidated';
    await validate(persisted.link);
  }

  /**
   * An agent reported that the provider refused the current token (or a force met a promised one): ask the provider.
   * Refused: the token is dead for every holder, so the refresh breaks no promise. Accepted: nothing changes (the
   * agent's 401 was about something else).
   */
  async function recheck(): Promise<void> {
    const current = link!;
    let verdict;
    try {
      // One attempt: replication lag concerns new tokens, and this one was already in use.
      verdict = await validateAccessToken({ ...key, accessToken: current.accessToken, httpTimeoutMs: httpDeadlineMs(tuning.validateAttemptMs), unauthorizedAttempts: 1 });
    } catch (err) {
      warn('checking a token reported as refused failed; it stays current', failureMessage(err));
      throw toAgentFailure(err);
    }
    counters.validations++;
    // Accepted (or rate limited: the provider knows the token). A provider without a validateUrl cannot be asked: the
    // report (or the operator's force) is taken as the refusal it says it is.
    if (verdict === 'valid' || verdict === 'rate_limited') return;
    validation = 'rejected';
    warn('the provider refuses the current access token (reported by an agent); refreshing', 'access token rejected by the provider');
    await refresh(true);
  }

  /** Joins the refresh in flight, or starts one: N waiting agents share one exchange and its outcome. */
  function sharedRefresh(force: boolean): Promise<void> {
    return shared(() => refresh(force));
  }

  /** Runs `op` (a refresh or a recheck) unless one is in flight, which callers then join. */
  function shared(op: () => Promise<void>): Promise<void> {
    if (!refreshing) {
      const run = serialized(op).finally(() => {
        refreshing = undefined;
        publish();
      });
      run.catch(() => undefined);
      refreshing = run;
      publish();
    }
    return refreshing;
  }

  /** Without a refresh token (refused for good) the stored access token is served only while it still meets the request. */
  function grant(minValidSeconds = 0, nowMs?: number): TokenGrant {
    if (!link?.hasRefreshToken && !usable(minValidSeconds, nowMs)) throw reauthRequired();
    if (validation !== 'valid') throw agentFailure('provider_unavailable', lastError || 'the access token is not validated yet');
    const { username, password } = gitCredentials(link!.providerType, link!.accessToken);
    return { accessToken: link!.accessToken, tokenType: link!.tokenType, expiresAt: toldIso(), username, password };
  }

  /**
   * The agent's copy of the token with this fingerprint got a 401. If it is still the current token, one shared check at
   * the provider (and an exchange only if it refuses it); agents reporting meanwhile join that check. Otherwise a newer
   * token exists and the usual path serves it.
   */
  async function checkReported(rejectedFingerprint: string): Promise<void> {
    await ensureLoaded();
    if (refreshing) return void (await refreshing);
    if (link!.accessTokenFingerprint !== rejectedFingerprint || validation !== 'valid' || !link!.hasRefreshToken) return;
    await shared(recheck);
  }

  async function serveOnce(minValidSeconds: number, nowMs: number | undefined, rejectedFingerprint?: string): Promise<TokenGrant> {
    if (rejectedFingerprint) await checkReported(rejectedFingerprint);
    if (!refreshing) {
      await ensureLoaded();
      if (!refreshing && usable(minValidSeconds, nowMs)) return handOut();
      if (!link!.hasRefreshToken) throw reauthRequired();
    }
    await sharedRefresh(false);
    // A refresh that only validated the stored token (after a validation that had failed) can leave it with less
    // life than this request asks for, even none by the time the agent has it: exchange once more, then serve.
    if (link?.hasRefreshToken && validation === 'valid' && !fresh(minValidSeconds, nowMs ?? Date.now()) && patched('refresh-again-when-short')) {
      await sharedRefresh(true);
    }
    return handOut(minValidSeconds, nowMs);
  }

  /** A grant for an agent: from now on the token is held, and its told expiry is a promise. */
  function handOut(minValidSeconds = 0, nowMs?: number): TokenGrant {
    const given = grant(minValidSeconds, nowMs);
    unservedVersion = undefined;
    return given;
  }

  async function serveToken({ minValidSeconds, waitSeconds = 0, nowMs, rejectedFingerprint }: GetTokenRequest): Promise<TokenGrant> {
    counters.requests++;
    lastTouched = Date.now();
    const waitUntil = Date.now() + waitSeconds * 1000;
    for (;;) {
      const relinksSeen = relinks;
      let failure: unknown;
      try {
        return await serveOnce(minValidSeconds, nowMs, rejectedFingerprint);
      } catch (err) {
        failure = toAgentFailure(err);
      }
      // Decided by whether the agent asked to wait and whether the wait's timer fired, never by reading the clock.
      if (!(failure instanceof ApplicationFailure) || failure.type !== 'reauth_required' || waitSeconds === 0) {
        counters.failedRequests++;
        throw failure;
      }
      // No polling: the relinked signal's reload bumps `relinks` and wakes this handler.
      waitingForRelink++;
      publish();
      const relinked = await condition(() => relinks !== relinksSeen, Math.max(waitUntil - Date.now(), 1));
      waitingForRelink--;
      publish();
      if (!relinked) {
        counters.failedRequests++;
        throw agentFailure('reauth_required', `${failure.message} (waited ${waitSeconds} s; the user did not re-authenticate)`);
      }
    }
  }

  const nextProactiveRefresh = (): number | undefined => {
    if (refreshing) return undefined;
    const own = proactiveRefreshDue({ link, lastTouched, retryAt: proactiveRetryAt, since: runStartedAt });
    const deferred = forceDeferred ? (toldAt() ?? undefined) : undefined;
    return own === undefined || deferred === undefined ? (own ?? deferred) : Math.min(own, deferred);
  };

  /**
   * refreshNow / requestRefresh. A token agents were promised is first checked at the provider: refused, it is replaced
   * at once (nobody loses a live token); accepted, the refresh waits for its told expiry (the run's timer) instead of
   * ending tokens agents hold. `nowMs`: the caller's clock, recorded with the request (absent: the workflow's).
   */
  function forceRefresh(nowMs = Date.now()): Promise<void> {
    return shared(async () => {
      if (!link) await load();
      if (!promised(nowMs)) return refresh(true);
      const version = link!.version;
      await recheck();
      if (link!.version === version && promised(nowMs)) forceDeferred = true;
    });
  }
  const view = (): LinkView => ({
    key,
    link,
    validation,
    lastError,
    refreshing: refreshing !== undefined,
    counters,
    refreshExpiring: link !== undefined && link.hasRefreshToken && warnedExpiryVersion === link.version,
    nextProactiveRefreshAt: nextProactiveRefresh(),
    waitingForRelink,
  });

  /** Search attributes on state changes (one history event each), current details for the Web UI always. */
  let publishedState: LinkState | undefined;
  function publish(): void {
    const current = linkState(view());
    if (current !== publishedState) {
      upsertSearchAttributes([
        ...(publishedState === undefined
          ? [
              { key: ExtauthProvider, value: key.providerId },
              { key: ExtauthUser, value: key.userId },
            ]
          : []),
        { key: ExtauthState, value: current },
      ]);
      publishedState = current;
    }
    setCurrentDetails(currentDetails(view()));
  }

  const status = (): LinkStatus => linkStatus(view());

  /** A refused request leaves no history: this warning is the server side's only trace of it. */
  function refuse(problem: string): never {
    log.warn('getToken request refused', { provider: key.providerId, link: key.userId, cause: problem });
    throw new RangeError(problem);
  }
  setHandler(getTokenUpdate, serveToken, {
    validator: (request) => {
      const problem = getTokenRequestProblem(request);
      if (problem) refuse(problem);
      const { nowMs } = request;
      // Validators run only when a request arrives (a refused one leaves no history), so reading the clock is safe here.
      if (nowMs !== undefined && !(Math.abs(nowMs - Date.now()) <= MAX_CLOCK_SKEW_MS)) {
        refuse(
          `the agent's clock is ${Math.round((nowMs - Date.now()) / 1000)} s off the server's (at most ${MAX_CLOCK_SKEW_MS / 1000} s allowed): fix its time synchronisation`,
        );
      }
    },
  });
  setHandler(refreshNowUpdate, async (request) => {
    lastTouched = Date.now();
    try {
      await ensureLoaded();
      await forceRefresh(request?.nowMs);
    } catch (err) {
      throw toAgentFailure(err);
    }
    return status();
  });
  setHandler(describeUpdate, async () => {
    await ensureLoaded().catch((err) => Promise.reject(toAgentFailure(err)));
    return status();
  });
  setHandler(requestRefreshSignal, (request) => {
    lastTouched = Date.now();
    forceRefresh(request?.nowMs).catch(() => undefined);
  });
  setHandler(relinkedSignal, () => {
    lastTouched = Date.now();
    lastError = '';
    serialized(async () => {
      validation = 'valid';
      await load();
      proactiveFailures = 0;
      proactiveRetryAt = undefined;
      relinks++;
    }).catch((err) => {
      warn('reloading the re-linked row failed', failureMessage(err));
      publish();
    });
  });
  setHandler(touchedSignal, () => {
    lastTouched = Date.now();
  });
  setHandler(statusQuery, status);
  // Read-only (no command, no history event): safe to add to running and replayed runs.
  setHandler(cachedTokenQuery, () => {
    if (refreshing || pendingOps > 0 || !link?.accessToken || !link.hasRefreshToken || validation !== 'valid' || lastError) return null;
    // A query records nothing: the first hand-out of a new token goes through the update, which marks it held.
    if (refreshEndsIt() && unservedVersion === link.version) return null;
    const schedule = link.schedule;
    const touchAfter = schedule && schedule.refreshAheadSeconds > 0 ? new Date(lastTouched + (schedule.activeWindowSeconds * 1000) / 2).toISOString() : null;
    return { grant: grant(), expiresAt: toldIso(), lifetimeSeconds: link.lifetimeSeconds, touchAfter, firm: refreshEndsIt() };
  });

  /** The server's suggestion, or our own bound for runs that stay open on timers for days. */
  function continueAsNewDue(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength > tuning.maxHistoryEvents;
  }

  /** A refresh nobody asked for: a failure is logged and retried later with backoff, never thrown. */
  function refreshOnOwn(): void {
    counters.proactiveRefreshes++;
    sharedRefresh(false).then(
      () => {
        proactiveFailures = 0;
        proactiveRetryAt = undefined;
      },
      (err) => {
        proactiveFailures++;
        const delayMs = proactiveRetryDelayMs(proactiveFailures);
        proactiveRetryAt = Date.now() + delayMs;
        warn(`refresh ahead of expiry failed; the run tries again in ${delayMs / 1000} s, agents still refresh on demand`, failureMessage(err));
        publish();
      },
    );
  }

  /** When the coming refresh-token expiry should be logged, unless it already was for this token version. */
  function pendingExpiryWarning(): number | undefined {
    return link && warnedExpiryVersion !== link.version ? refreshExpiryWarningAt(link) : undefined;
  }

  function warnRefreshTokenExpiry(): void {
    warnedExpiryVersion = link!.version;
    log.warn('refresh token expires soon; the user must re-authenticate before then unless a refresh renews it', {
      provider: key.providerId,
      link: key.userId,
      refreshTokenExpiresAt: link!.refreshTokenExpiresAt,
      tokenVersion: link!.version,
    });
    publish();
  }

  // Idle runs finish and long ones continue as new, so history stays bounded. A link with a schedule (proactive
  // refresh, keep-alive, refresh-token expiry) also wakes for it; a run without one behaves as before schedules
  // existed. Updates that arrive in the same activation as the timer run their handlers first and push
  // lastTouched forward.
  //
  // Every action here is taken because its timer fired (an event in history), never because the clock passed a
  // threshold: a worker's workflow clock can lag the one a replay sees (it does after a cache miss under load),
  // and a decision that reads it would then take another branch in replay.
  for (;;) {
    const due = nextProactiveRefresh();
    const warnAt = pendingExpiryWarning();
    const idleLeft = tuning.idleFinishMs - (Date.now() - lastTouched);
    const openUntil = activeUntil({ link, lastTouched }) ?? -Infinity;
    const wasRefreshing = refreshing !== undefined;
    // Runs recorded before schedules existed never have one, so they wake exactly as they did.
    const scheduled = () => link?.schedule !== undefined;
    // The earliest of: the refresh due, the expiry warning, and (when nothing keeps the run open) the idle finish.
    const idleAt = due === undefined ? Math.max(Date.now() + Math.max(idleLeft, scheduled() && wasRefreshing ? 60_000 : 1_000), openUntil) : Infinity;
    const [next, wakeAt] = (
      [
        ['refresh', due ?? Infinity],
        ['warn', warnAt ?? Infinity],
        ['idle', idleAt],
      ] as const
    ).reduce((a, b) => (b[1] < a[1] ? b : a));
    // Re-planned when a refresh ends or a re-link changes the plan; not on every refresh start (each re-plan is a new timer).
    const plan = () => `${nextProactiveRefresh()}|${pendingExpiryWarning()}`;
    const planned = plan();
    const touchedAtPlan = lastTouched;
    // An agent waiting for a re-link holds the run open: wake when it is done rather than every second.
    const waitersAtPlan = waitingForRelink > 0;
    const replan = () => scheduled() && !refreshing && (wasRefreshing || plan() !== planned);
    const waitersDone = () => waitersAtPlan && allHandlersFinished();
    const timeoutMs = Math.max(wakeAt - Date.now(), waitersAtPlan ? 60_000 : 1);
    const woke = await condition(() => continueAsNewDue() || replan() || waitersDone(), timeoutMs);
    if (woke && continueAsNewDue()) {
      // A refresh the run started on its own is no handler: its exchange's answer must be persisted by this run.
      await condition(() => allHandlersFinished() && !refreshing);
      return continueAsNew<typeof linkWorkflow>({
        ...input,
        // The retry plan and a deferred force are part of what agents were told (the told expiry): they carry over.
        carried: { counters, validation, lastTouched, proactiveFailures, proactiveRetryAt, forceDeferred },
      });
    }
    if (woke || refreshing || plan() !== planned) continue;
    if (next === 'refresh') refreshOnOwn();
    else if (next === 'warn') warnRefreshTokenExpiry();
    // Idle (and no longer active) as planned: nobody asked meanwhile and the loaded link did not change the plan.
    else if (lastTouched === touchedAtPlan && (activeUntil({ link, lastTouched }) ?? -Infinity) === openUntil && allHandlersFinished()) return;
  }
}

