// A link's run refreshes ahead of expiry with a durable timer, so agents in steady state never wait on the
// provider; links nobody asks for go quiet; keep-alive providers still get their idle refresh tokens used.
import { describe, expect, it } from 'vitest';
import { linkWorkflowId } from '../core/ids.js';
import { statusQuery } from '../workflows/messages.js';
import { ExtauthState } from '../workflows/search-attributes.js';
import { until } from './support/helpers.js';
import { logLines, uniqueUser, useWorld, type World } from './support/world.js';

const LIFETIME_SECONDS = 12;
const AHEAD_SECONDS = 4;

// Refresh 4 s ahead; every token the fake issues lives 12 s.
const ahead = useWorld({ provider: { accessTokenLifetimeSeconds: LIFETIME_SECONDS }, providerConfig: { refreshAheadSeconds: AHEAD_SECONDS } });
// Same, but a link counts as active for 3 s after a request, and idle runs finish after 1 s.
const shortWindow = useWorld({
  tuning: { idleFinishMs: 1_000 },
  provider: { accessTokenLifetimeSeconds: LIFETIME_SECONDS },
  providerConfig: { refreshAheadSeconds: AHEAD_SECONDS, activeWindowSeconds: 3 },
});
// A provider that expires idle refresh tokens: keep-alive every 3 s, never refresh ahead. The sweep keeps such links
// alive (test/keep-alive.test.ts); the control runs the plan before 4 December 2026, where the run kept a timer for it.
const keepAliveSettings = { providerConfig: { refreshAheadSeconds: 0, keepAliveSeconds: 3, activeWindowSeconds: 1 } };
const keepAlive = useWorld({ tuning: { idleFinishMs: 1_000 }, ...keepAliveSettings });
const keepAliveOldPlan = useWorld({ tuning: { idleFinishMs: 1_000, runKeepAlive: true }, ...keepAliveSettings });

// Tokens of 2 s refreshed 1 s ahead while the link is active (15 s: long enough to pass 60 events, short enough not to
// load the other tests of this file), and runs continue as new past 60 history events.
const bounded = useWorld({
  tuning: { idleFinishMs: 1_000, maxHistoryEvents: 60 },
  provider: { accessTokenLifetimeSeconds: 2 },
  providerConfig: { refreshAheadSeconds: 1, activeWindowSeconds: 15 },
});
// Warn 5 s before a refresh token expires.
const warning = useWorld({ providerConfig: { refreshTokenWarnSeconds: 5 } });

const tokenCalls = (world: World, user: string) => world.provider.stats.tokenCallsByFamily.get(user) ?? 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runStatus(world: World, user: string): Promise<string> {
  return (await world.temporal.workflow.getHandle(linkWorkflowId(world.key(user))).describe()).status.name;
}

describe('proactive refresh', () => {
  it('refreshes before expiry with no agent asking, and the next agent is served the new token without an exchange', async () => {
    const user = uniqueUser('ahead');
    const seeded = await ahead.seedLink(user, { lifetimeSeconds: LIFETIME_SECONDS, expiresInSeconds: 8 });
    const seededExpiry = Date.now() + 8_000;

    const first = await ahead.client.getToken({ provider: ahead.providerId, user, minValidSeconds: 1 });
    expect(first.accessToken).toBe(seeded.accessToken);
    expect(tokenCalls(ahead, user)).toBe(0);

    // Nobody asks again: the run's timer fires about 4 s before the seeded token expires.
    await until(() => tokenCalls(ahead, user) >= 1, 20_000, 'a refresh nobody asked for');
    await until(async () => (await ahead.row(user)).refreshToken === ahead.provider.liveRefreshToken(user), 10_000, 'the rotated token saved');
    const row = await ahead.row(user);
    expect(row.lastRefreshedAt!.getTime()).toBeLessThan(seededExpiry);
    expect(row.refreshToken).toBe(ahead.provider.liveRefreshToken(user));
    await until(async () => (await ahead.client.peekStatus({ provider: ahead.providerId, user }))?.state === 'ok', 10_000, 'validated');

    const callsBefore = tokenCalls(ahead, user);
    const next = await ahead.client.getToken({ provider: ahead.providerId, user, minValidSeconds: 1 });
    expect(next.accessToken).not.toBe(seeded.accessToken);
    expect(ahead.provider.isAccessTokenValid(next.accessToken)).toBe(true);
    expect(tokenCalls(ahead, user)).toBe(callsBefore);

    const status = await ahead.client.peekStatus({ provider: ahead.providerId, user });
    expect(status?.counters.proactiveRefreshes).toBeGreaterThanOrEqual(1);
    expect(status?.nextProactiveRefreshAt).not.toBeNull();
  });

  it('a refresh ahead of expiry that fails logs a structured warning (provider, link, cause) and is not thrown', async () => {
    const user = uniqueUser('ahead-fails');
    await ahead.seedLink(user, { lifetimeSeconds: LIFETIME_SECONDS, expiresInSeconds: 6 });
    await ahead.client.getToken({ provider: ahead.providerId, user, minValidSeconds: 1 });
    // The provider refuses every new access token: the refresh the run starts on its own fails after validation.
    ahead.provider.injectFault('validate', { kind: 'validate_refused' }, { familyId: user, times: 1_000 });

    const warnings = () => logLines.filter((line) => line.includes('refresh ahead of expiry failed') && line.includes(user));
    await until(() => warnings().length > 0, 30_000, 'the warning logged');
    const entry = JSON.parse(warnings()[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({ provider: ahead.providerId, link: user, cause: expect.stringMatching(/rejected/) });
    const status = await ahead.client.peekStatus({ provider: ahead.providerId, user });
    expect(status?.state).toBe('degraded');
    expect(status?.counters.proactiveRefreshes).toBe(1);
  });

  it('keeps refreshing on its own, once per token (no storm), while the link stays active', async () => {
    const user = uniqueUser('steady');
    await ahead.seedLink(user, { lifetimeSeconds: LIFETIME_SECONDS, expiresInSeconds: 6 });
    await ahead.client.getToken({ provider: ahead.providerId, user, minValidSeconds: 1 });

    // Each 12 s token is refreshed about 8 s after it was issued: within 20 s, 2 or 3 refreshes, not more.
    await sleep(20_000);
    const calls = tokenCalls(ahead, user);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThanOrEqual(3);
    expect((await ahead.row(user)).refreshToken).toBe(ahead.provider.liveRefreshToken(user));
    const status = await ahead.client.peekStatus({ provider: ahead.providerId, user });
    expect(status?.counters.proactiveRefreshes).toBe(calls);
    expect(status?.counters.requests).toBe(1);
  });

  it('a link nobody asked for within the active window is not refreshed, and its run finishes', async () => {
    const user = uniqueUser('abandoned');
    await shortWindow.seedLink(user, { lifetimeSeconds: LIFETIME_SECONDS, expiresInSeconds: 8 });
    await shortWindow.client.getToken({ provider: shortWindow.providerId, user, minValidSeconds: 1 });

    // Due 4 s from now, but the link went quiet after 3 s: no provider traffic, and the run closes.
    await until(async () => (await runStatus(shortWindow, user)) === 'COMPLETED', 20_000, 'the idle run finishing');
    await sleep(Math.max(0, 9_000));
    expect(tokenCalls(shortWindow, user)).toBe(0);
  });

  it('reads through the query fast path keep the link active (touched signal), so it is still refreshed ahead', async () => {
    const user = uniqueUser('reader');
    const seeded = await shortWindow.seedLink(user, { lifetimeSeconds: LIFETIME_SECONDS, expiresInSeconds: 8 });
    const tokens = new Set<string>();
    const started = Date.now();
    // An agent reading every 500 ms, always content with 1 s left: it never makes the run refresh by itself.
    while (Date.now() - started < 9_000) {
      const grant = await shortWindow.client.getToken({ provider: shortWindow.providerId, user, minValidSeconds: 1 });
      expect(shortWindow.provider.isAccessTokenValid(grant.accessToken)).toBe(true);
      tokens.add(grant.accessToken);
      await sleep(500);
    }
    expect(tokens.has(seeded.accessToken)).toBe(true);
    expect(tokens.size).toBeGreaterThanOrEqual(2);
    const handle = shortWindow.temporal.workflow.getHandle(linkWorkflowId(shortWindow.key(user)));
    const status = await handle.query(statusQuery);
    // One run throughout: the touches kept it open (without them it would close 3 s after the first request).
    const runs: string[] = [];
    for await (const info of shortWindow.temporal.workflow.list({ query: `WorkflowId = '${linkWorkflowId(shortWindow.key(user))}'` })) runs.push(info.runId);
    expect(runs).toHaveLength(1);
    // One update to start, then one per new token: its first hand-out is recorded, so its told expiry is a promise
    // (docs/providers.md, "What expiresAt means"); every other read went through the query.
    expect(status.counters.requests).toBeLessThanOrEqual(1 + status.counters.proactiveRefreshes);
    // Steady state: every refresh was the run's own; no agent's request waited on the provider.
    expect(status.counters.refreshes).toBe(status.counters.proactiveRefreshes);
    expect(status.counters.proactiveRefreshes).toBeGreaterThanOrEqual(1);
  });
});

describe('keep-alive', () => {
  it("an idle link of a keep-alive provider: its run plans no keep-alive timer (the sweep's job) and finishes once idle; the old plan keeps it open, refreshing", async () => {
    const user = uniqueUser('keepalive');
    await keepAlive.seedLink(user, { expiresInSeconds: 3_600 });
    await keepAlive.client.status({ provider: keepAlive.providerId, user });
    await until(async () => (await runStatus(keepAlive, user)) === 'COMPLETED', 20_000, 'the idle run finishing');
    await sleep(4_000); // past one keep-alive period: nothing refreshed it
    expect(tokenCalls(keepAlive, user)).toBe(0);

    // Control: the run that planned keep-alive itself stays open and refreshes with nobody asking.
    const old = uniqueUser('keepalive-old');
    await keepAliveOldPlan.seedLink(old, { expiresInSeconds: 3_600 });
    await keepAliveOldPlan.client.status({ provider: keepAliveOldPlan.providerId, user: old });
    await until(() => tokenCalls(keepAliveOldPlan, old) >= 2, 20_000, 'two keep-alive refreshes');
    expect(await runStatus(keepAliveOldPlan, old)).toBe('RUNNING');
    await until(async () => (await keepAliveOldPlan.row(old)).refreshToken === keepAliveOldPlan.provider.liveRefreshToken(old), 10_000, 'row = live token');
    const status = await keepAliveOldPlan.client.peekStatus({ provider: keepAliveOldPlan.providerId, user: old });
    expect(status?.counters.requests).toBe(0);
    expect(status?.counters.proactiveRefreshes).toBeGreaterThanOrEqual(2);
  });
});

describe('bounded history', () => {
  it('a run kept open by its schedule continues as new past maxHistoryEvents, carrying its counters', async () => {
    const user = uniqueUser('bounded');
    await bounded.seedLink(user, { expiresInSeconds: 2, lifetimeSeconds: 2 });
    await bounded.client.status({ provider: bounded.providerId, user });
    const runs = async () => {
      const found: { status: string; historyLength: number }[] = [];
      for await (const info of bounded.temporal.workflow.list({ query: `WorkflowId = '${linkWorkflowId(bounded.key(user))}'` })) {
        found.push({ status: info.status.name, historyLength: info.historyLength });
      }
      return found;
    };
    await until(async () => (await runs()).some((r) => r.status === 'CONTINUED_AS_NEW'), 60_000, 'a run continued as new');
    const continued = (await runs()).filter((r) => r.status === 'CONTINUED_AS_NEW');
    // The bound is checked when the run wakes, so it ends a little past 60 events, never far past.
    for (const run of continued) expect(run.historyLength).toBeLessThan(100);
    const status = await bounded.client.peekStatus({ provider: bounded.providerId, user });
    expect(status?.state).not.toBe('reauth_required');
    // Carried over: the first run alone needed several refreshes to pass 60 events.
    expect(status!.counters.proactiveRefreshes).toBeGreaterThanOrEqual(2);
    await until(async () => (await bounded.row(user)).refreshToken === bounded.provider.liveRefreshToken(user), 10_000, 'row = live token');
  });
});

describe('refresh-token expiry warning', () => {
  it('a run turns refresh_expiring (status and ExtauthState) and logs one warning when the refresh token nears its expiry', async () => {
    const user = uniqueUser('rt-expiring');
    const refreshTokenExpiresAt = new Date(Date.now() + 9_000).toISOString();
    const grant = await warning.seedLink(user, { expiresInSeconds: 3_600, lifetimeSeconds: 3_600, refreshTokenExpiresAt });
    const link = { provider: warning.providerId, user };

    const before = await warning.client.status(link);
    expect(before.state).toBe('ok');
    expect(before.refreshTokenExpiresAt).toBe(refreshTokenExpiresAt);

    await until(async () => (await warning.client.peekStatus(link))?.state === 'refresh_expiring', 20_000, 'refresh_expiring');
    const handle = warning.temporal.workflow.getHandle(linkWorkflowId(warning.key(user)));
    await until(async () => (await handle.describe()).typedSearchAttributes.get(ExtauthState) === 'refresh_expiring', 10_000, 'ExtauthState');
    const warnings = () => logLines.filter((line) => line.includes('refresh token expires soon') && line.includes(user));
    await until(() => warnings().length > 0, 10_000, 'the warning logged');
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toContain(refreshTokenExpiresAt);
    // Still served meanwhile: the refresh token works until it expires.
    expect((await warning.client.getToken(link)).accessToken).toBe(grant.accessToken);
  });
});
