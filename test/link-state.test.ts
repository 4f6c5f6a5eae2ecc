// The link run's decisions without an engine (workflows/link-state.ts): which step the main loop takes next, which
// requests are answered without engine work, and how an outcome is shared. Milliseconds; the end-to-end files
// (concurrency, told-expiry, proactive-refresh, relink-wait, faults/*) prove the same protocol against real servers.
import { ApplicationFailure } from '@temporalio/common';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { LinkSnapshot, RefreshSchedule } from '../core/types.js';
import { agentFailure } from '../workflows/failures.js';
import { LinkRun, nextStep, refreshDueOnFirstStep, type Answer, type ForceAsk, type TokenAsk } from '../workflows/link-state.js';
import type { GetTokenRequest } from '../workflows/messages.js';
import { DEFAULT_TUNING } from '../workflows/policies.js';

const T0 = Date.parse('2026-12-01T12:00:00Z');
const s = (seconds: number) => T0 + seconds * 1000;
const iso = (seconds: number) => new Date(s(seconds)).toISOString();
const NO_SCHEDULE: RefreshSchedule = { refreshAheadSeconds: 0, activeWindowSeconds: 3600, keepAliveSeconds: 0, refreshTokenWarnSeconds: 0, refreshEndsOldAccessToken: false };

function snapshot(overrides: Partial<LinkSnapshot> = {}): LinkSnapshot {
  return {
    providerType: 'github',
    version: 1,
    accessToken: 'gho_current',
    tokenType: 'bearer',
    expiresAt: iso(3600),
    lifetimeSeconds: 8 * 3600,
    hasRefreshToken: true,
    accessTokenFingerprint: 'aaaaaaaaaaaa',
    refreshTokenFingerprint: 'bbbbbbbbbbbb',
    failureReason: '',
    lastRefreshedAt: iso(-60),
    refreshTokenExpiresAt: null,
    schedule: NO_SCHEDULE,
    ...overrides,
  };
}

function newRun(link?: LinkSnapshot, tuning: Partial<typeof DEFAULT_TUNING> = {}, carried?: ConstructorParameters<typeof LinkRun>[0]['carried']): LinkRun {
  const run = new LinkRun({ providerId: 'github', userId: 'alice', carried }, { ...DEFAULT_TUNING, ...tuning }, T0);
  if (link) run.loaded(link);
  return run;
}

function ask(run: LinkRun, request: Partial<GetTokenRequest> = {}, at = T0): TokenAsk {
  const full = { minValidSeconds: 60, nowMs: at, ...request };
  return run.enqueue({ kind: 'token', request: full, reportChecked: !full.rejectedFingerprint, rounds: 0 }, at);
}

const status = (run: LinkRun) => () => run.status();
const value = <T>(answer: Answer<T> | undefined) => (answer && 'value' in answer ? answer.value : undefined);
const errorCode = (answer: Answer<unknown> | undefined) => (answer && 'error' in answer ? answer.error.type : undefined);
/** What the main loop does after answering what it can, as it does each turn. */
function turn(run: LinkRun, provenNow = -Infinity, clockNow = T0) {
  run.settle(clockNow, status(run));
  return nextStep(run, provenNow, clockNow);
}

describe('requests', () => {
  it('nothing loaded: the first step is the load; a fresh token is then answered without engine work', () => {
    const run = newRun();
    const a = ask(run);
    expect(turn(run)).toEqual({ kind: 'load' });
    run.loaded(snapshot());
    expect(turn(run).kind).toBe('wait');
    expect(value(a.answer)?.accessToken).toBe('gho_current');
    expect(run.asks).toEqual([]);
  });

  it('N requests for an expired token: one refresh step, whose outcome all of them share', () => {
    const run = newRun(snapshot({ expiresAt: iso(-10) }));
    const asks = Array.from({ length: 25 }, () => ask(run));
    expect(turn(run)).toEqual({ kind: 'refresh', force: false, own: false });
    // The refresh (exchange → persist → validate) ran: new tokens, validated.
    run.saved(snapshot({ version: 2, accessToken: 'gho_new', expiresAt: iso(8 * 3600) }));
    run.validated(2);
    run.shareOutcome(undefined, status(run));
    expect(turn(run).kind).toBe('wait');
    expect(new Set(asks.map((a) => value(a.answer)?.accessToken))).toEqual(new Set(['gho_new']));
  });

  it('a failed refresh fails every request waiting on it with the same answer (transient: provider_unavailable)', () => {
    const run = newRun(snapshot({ expiresAt: iso(-10) }));
    const asks = [ask(run), ask(run), ask(run)];
    expect(turn(run).kind).toBe('refresh');
    run.shareOutcome(agentFailure('provider_unavailable', 'exchange budget spent'), status(run));
    expect(asks.map((a) => errorCode(a.answer))).toEqual(['provider_unavailable', 'provider_unavailable', 'provider_unavailable']);
  });

  it('a permanent refusal recorded by the refresh: the request hears reauth_required, and the next one without a refresh', () => {
    const run = newRun(snapshot({ expiresAt: iso(-10) }));
    const first = ask(run);
    expect(turn(run).kind).toBe('refresh');
    run.adopted(snapshot({ expiresAt: iso(-10), hasRefreshToken: false, failureReason: 'invalid_grant: revoked' }), false);
    run.shareOutcome(undefined, status(run));
    turn(run);
    expect(errorCode(first.answer)).toBe('reauth_required');
    const second = ask(run);
    expect(turn(run).kind).toBe('wait');
    expect(errorCode(second.answer)).toBe('reauth_required');
    expect((second.answer as { error: ApplicationFailure }).error.message).toBe('invalid_grant: revoked');
  });

  it('a refresh that only validated the stored token again leaves a request short: one forced refresh, then it is served', () => {
    const run = newRun(snapshot({ expiresAt: iso(5), lifetimeSeconds: 20 }));
    run.validation = 'unvalidated';
    const a = ask(run, { minValidSeconds: 10 });
    expect(turn(run)).toEqual({ kind: 'refresh', force: false, own: false });
    run.validated(1); // validation only: still 5 s left
    run.shareOutcome(undefined, status(run));
    expect(turn(run)).toEqual({ kind: 'refresh', force: true, own: false });
    run.saved(snapshot({ version: 2, accessToken: 'gho_new', expiresAt: iso(20), lifetimeSeconds: 20 }));
    run.validated(2);
    run.shareOutcome(undefined, status(run));
    turn(run);
    expect(value(a.answer)?.accessToken).toBe('gho_new');
  });

  it('a reported token that is still current is checked at the provider first; an older fingerprint is answered at once', () => {
    const run = newRun(snapshot());
    const reported = ask(run, { rejectedFingerprint: 'aaaaaaaaaaaa' });
    const older = ask(run, { rejectedFingerprint: 'cccccccccccc' });
    expect(turn(run)).toEqual({ kind: 'recheck' });
    expect(value(older.answer)?.accessToken).toBe('gho_current');
    expect(reported.answer).toBeUndefined();
    // The provider still accepts it: nothing changes, and the reporter gets the same token.
    run.shareOutcome(undefined, status(run));
    turn(run);
    expect(value(reported.answer)?.accessToken).toBe('gho_current');
  });

  it("a request's clock ages with its wait in the run: answered late, it is judged at the time it is answered", () => {
    // What the soak found under load: a request sent at T0 and answered 25 s later was judged by its T0 and served a
    // token with 40 s left at T0, which had 15 s left on arrival (and was dead on arrival where the wait was longer).
    const waited = (receivedAt?: number) => {
      const run = newRun(snapshot({ expiresAt: iso(40) }));
      const a = run.enqueue<TokenAsk>({ kind: 'token', request: { minValidSeconds: 30, nowMs: T0 }, reportChecked: true, rounds: 0, receivedAt }, T0);
      return { a, step: turn(run, -Infinity, s(25)) };
    };
    const aged = waited(T0);
    expect(aged.step).toEqual({ kind: 'refresh', force: false, own: false });
    expect(aged.a.answer).toBeUndefined();
    // Control: judged by the clock it was sent with, the token is served (the old rule).
    expect(value(waited(undefined).a.answer)?.accessToken).toBe('gho_current');
  });

  it('a forced refresh comes before requests and answers with the status', () => {
    const run = newRun(snapshot());
    const force = run.enqueue<ForceAsk>({ kind: 'force', nowMs: T0 }, T0);
    expect(turn(run)).toEqual({ kind: 'force', nowMs: T0 });
    run.shareOutcome(undefined, status(run));
    expect(value(force.answer)?.tokenVersion).toBe(1);
  });

  it('a re-link is read before anything else', () => {
    const run = newRun(snapshot({ hasRefreshToken: false, failureReason: 'revoked' }));
    ask(run);
    run.relinked(T0);
    expect(nextStep(run, -Infinity, T0)).toEqual({ kind: 'reload' });
  });
});

describe("the run's own plan", () => {
  const ahead: RefreshSchedule = { ...NO_SCHEDULE, refreshAheadSeconds: 300, activeWindowSeconds: 3600 };

  it('refresh ahead of expiry: waits for the due time and refreshes only once a timer proves it', () => {
    const run = newRun(snapshot({ expiresAt: iso(1000), schedule: ahead }));
    expect(turn(run)).toEqual({ kind: 'wait', until: s(700) });
    // The clock alone (past the due time) is not enough: only a fired timer's time is.
    expect(turn(run, s(699), s(800))).toEqual({ kind: 'wait', until: s(700) });
    expect(turn(run, s(700))).toEqual({ kind: 'refresh', force: false, own: true });
  });

  it('a request that arrives with the timer of the run\'s own refresh joins that refresh (counted as the run\'s own)', () => {
    const run = newRun(snapshot({ expiresAt: iso(1000), schedule: ahead }));
    ask(run, { minValidSeconds: 301, nowMs: s(700) }, s(700));
    expect(turn(run, s(699), s(700))).toEqual({ kind: 'refresh', force: false, own: false });
    expect(turn(run, s(700), s(700))).toEqual({ kind: 'refresh', force: false, own: true });
  });

  it('a failed refresh on its own backs off: the next one is planned after the retry delay', () => {
    const run = newRun(snapshot({ expiresAt: iso(1000), schedule: ahead }));
    expect(run.proactiveFailed(s(700))).toBe(30_000);
    expect(turn(run, s(700))).toEqual({ kind: 'wait', until: s(730) });
  });

  it('idle: finishes once the idle timer proves the link unused for idleFinishMs, not while an agent waits for a re-link', () => {
    const run = newRun(snapshot(), { idleFinishMs: 60_000 });
    expect(turn(run)).toEqual({ kind: 'wait', until: s(60) });
    expect(turn(run, s(60))).toEqual({ kind: 'finish' });
    run.touch(s(30));
    expect(turn(run, s(60))).toEqual({ kind: 'wait', until: s(90) });
    run.waitingForRelink = 1;
    expect(turn(run, s(90))).toEqual({ kind: 'wait' });
  });

  it('continue-as-new when suggested and nothing is asked; the carried state keeps counters and the told-expiry plan', () => {
    const run = newRun(snapshot());
    run.continueAsNewSuggested = true;
    const a = ask(run, { minValidSeconds: 60 });
    expect(turn(run)).toEqual({ kind: 'continueAsNew' });
    expect(value(a.answer)).toBeDefined(); // answered first
    run.forceDeferred = true;
    run.proactiveFailed(T0);
    expect(run.carried()).toMatchObject({ counters: { requests: 0 }, validation: 'valid', forceDeferred: true, proactiveFailures: 1, proactiveRetryAt: s(30) });
  });

  it('the refresh-token expiry warning fires once per token version', () => {
    const run = newRun(snapshot({ refreshTokenExpiresAt: iso(100), schedule: { ...NO_SCHEDULE, refreshTokenWarnSeconds: 50 } }));
    expect(turn(run)).toEqual({ kind: 'wait', until: s(50) });
    expect(turn(run, s(50))).toEqual({ kind: 'warn' });
    run.warnedExpiryVersion = 1;
    expect(turn(run, s(50)).kind).toBe('wait');
  });
});

describe('told expiry (a refresh ends the old access token)', () => {
  const ends: RefreshSchedule = { ...NO_SCHEDULE, refreshEndsOldAccessToken: true };

  it('a token agents hold is served with the life it has until its told expiry, then refreshed', () => {
    const run = newRun(snapshot({ expiresAt: iso(20), lifetimeSeconds: 60, schedule: ends }));
    const held = ask(run, { minValidSeconds: 30 });
    expect(turn(run).kind).toBe('wait');
    expect(value(held.answer)?.expiresAt).toBe(iso(20));
    const late = ask(run, { minValidSeconds: 30, nowMs: s(21) }, s(21));
    expect(turn(run, -Infinity, s(21))).toEqual({ kind: 'refresh', force: false, own: false });
    expect(late.answer).toBeUndefined();
  });

  it("a request that waited past the told expiry is not served the token that expiry ended", () => {
    const waited = (receivedAt?: number) => {
      const run = newRun(snapshot({ expiresAt: iso(20), lifetimeSeconds: 60, schedule: ends }));
      const held = ask(run, { minValidSeconds: 30 });
      turn(run);
      expect(value(held.answer)?.expiresAt).toBe(iso(20)); // promised until +20 s
      const late = run.enqueue<TokenAsk>({ kind: 'token', request: { minValidSeconds: 30, nowMs: s(1) }, reportChecked: true, rounds: 0, receivedAt }, s(1));
      return { late, step: turn(run, -Infinity, s(21)) };
    };
    const aged = waited(s(1));
    expect(aged.step).toEqual({ kind: 'refresh', force: false, own: false });
    expect(aged.late.answer).toBeUndefined();
    // Control: judged at its sending time (+1 s, inside the promise) it is served the token that ended at +20 s.
    expect(value(waited(undefined).late.answer)?.expiresAt).toBe(iso(20));
  });

  it('a validated token nobody was handed yet was promised nothing: the query leaves its first hand-out to the update', () => {
    const run = newRun(snapshot({ schedule: ends }));
    run.validated(1);
    expect(run.cached(T0)).toBeNull();
    const a = ask(run);
    turn(run);
    expect(value(a.answer)).toBeDefined();
    expect(run.cached(T0)?.firm).toBe(true);
  });

  it('a forced refresh of a promised token is deferred to its told expiry, which becomes the run\'s plan', () => {
    const run = newRun(snapshot({ expiresAt: iso(600), schedule: ends }));
    expect(run.promised(T0)).toBe(true);
    run.forceDeferred = true;
    expect(run.status().nextProactiveRefreshAt).toBe(iso(600));
    expect(turn(run, s(600))).toEqual({ kind: 'refresh', force: false, own: true });
  });

  it('a refusal after an exchange that may have rotated ends the held token too: reauth_required, not the dead token', () => {
    // What the soak found: an attempt timed out after the provider rotated, the retry's refresh token was refused,
    // and the requests that waited through it were served the access token that rotation had already ended.
    const refusedRow = (schedule: RefreshSchedule) => snapshot({ version: 2, hasRefreshToken: false, refreshTokenFingerprint: null, failureReason: 'bad_refresh_token', schedule });
    const run = newRun(snapshot({ schedule: ends }));
    const waiting = ask(run);
    run.refused(refusedRow(ends), false, iso(-5));
    run.shareOutcome(undefined, status(run));
    turn(run);
    expect(errorCode(waiting.answer)).toBe('reauth_required');
    expect(run.cached(T0)).toBeNull();
    // Controls: no ambiguous attempt, or a provider whose refresh leaves the old token alive: the held token, which
    // may still work until it expires, is served.
    for (const [schedule, unansweredSince] of [[ends, null], [NO_SCHEDULE, iso(-5)]] as const) {
      const control = newRun(snapshot({ schedule }));
      const served = ask(control);
      control.refused(refusedRow(schedule), false, unansweredSince);
      control.shareOutcome(undefined, status(control));
      turn(control);
      expect(value(served.answer)?.accessToken).toBe('gho_current');
    }
  });
});

describe('the cachedToken query', () => {
  it('answers only when no work is in flight or queued and the token is validated', () => {
    const run = newRun(snapshot());
    expect(run.cached(T0)?.grant.accessToken).toBe('gho_current');
    run.working = true;
    expect(run.cached(T0)).toBeNull();
    run.working = false;
    ask(run);
    expect(run.cached(T0)).toBeNull();
    run.settle(T0, status(run));
    run.validation = 'unvalidated';
    expect(run.cached(T0)).toBeNull();
  });
});

describe("a run's first step (the exchange activity reads the row and refreshes only when due)", () => {
  const KEY = { providerId: 'github', userId: 'alice' };
  /** What the run hands the exchange after these requests, then the activity's decision on `link`. */
  function due(link: LinkSnapshot, requests: Array<Partial<GetTokenRequest>>, forces: Array<number | null> = []): boolean {
    const run = newRun();
    for (const request of requests) ask(run, request);
    for (const nowMs of forces) run.enqueue({ kind: 'force', ...(nowMs === null ? {} : { nowMs }) }, T0);
    return refreshDueOnFirstStep(KEY, run.firstStep()!, link, T0);
  }
  const promising = { ...NO_SCHEDULE, refreshEndsOldAccessToken: true };

  it('an expired or short token is refreshed; a fresh one only read', () => {
    expect(due(snapshot({ expiresAt: iso(-10) }), [{}])).toBe(true);
    expect(due(snapshot({ expiresAt: iso(30) }), [{ minValidSeconds: 60 }])).toBe(true);
    expect(due(snapshot(), [{ minValidSeconds: 60 }])).toBe(false);
  });
  it('no refresh token, or a reported token still to be checked at the provider: left to the main loop', () => {
    expect(due(snapshot({ expiresAt: iso(-10), hasRefreshToken: false }), [{}])).toBe(false);
    expect(due(snapshot({ expiresAt: iso(30) }), [{ rejectedFingerprint: 'aaaaaaaaaaaa' }])).toBe(false);
  });
  it('a forced refresh exchanges unless the token was promised to agents (the main loop checks it first)', () => {
    expect(due(snapshot(), [], [T0])).toBe(true);
    expect(due(snapshot({ schedule: promising }), [], [T0])).toBe(false);
    expect(due(snapshot({ schedule: promising, expiresAt: iso(-10) }), [], [T0])).toBe(true);
  });
  it('a promised token is served as it is, where the old rule of freshness would end it early', () => {
    expect(due(snapshot({ schedule: promising, expiresAt: iso(30) }), [{ minValidSeconds: 60 }])).toBe(false);
  });
});

describe('one actor', () => {
  /** What a workflow file imports from @temporalio/workflow. */
  const workflowImports = (file: string) => {
    const source = readFileSync(new URL(`../workflows/${file}`, import.meta.url), 'utf8');
    return [...source.matchAll(/import \{([^}]*)\} from '@temporalio\/workflow'/g)].flatMap((m) => m[1]!.split(',').map((name) => name.trim())).filter(Boolean);
  };
  const COMMANDS = ['proxyActivities', 'proxyLocalActivities', 'upsertSearchAttributes', 'continueAsNew', 'sleep', 'startChild', 'executeChild'];

  it('the handlers can issue no activity, search attribute or continue-as-new: they only enqueue and wait', () => {
    expect(workflowImports('link-handlers.ts').filter((name) => COMMANDS.includes(name))).toEqual([]);
  });

  it('control: the same check finds the commands of the workflow file and of its effects (activity stubs, search attributes)', () => {
    expect(workflowImports('link.ts')).toEqual(expect.arrayContaining(['continueAsNew']));
    expect(workflowImports('link-effects.ts')).toEqual(expect.arrayContaining(['proxyActivities', 'upsertSearchAttributes']));
  });
});
