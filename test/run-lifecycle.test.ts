// Runs finish when idle and the next request opens a new one: a request that races a closing run must
// still be answered. And a margin longer than the token's own life must not refresh on every request.
import { describe, expect, it } from 'vitest';
import { linkWorkflowId } from '../core/ids.js';
import { TunedExtauthClient } from '../client/tuned-client.js';
import { agentError, until } from './support/helpers.js';
import { FAST_TUNING, uniqueUser, useWorld } from './support/world.js';

const LIFETIME_SECONDS = 60;

// Runs finish after 1 s without a request; every token the fake issues lives 60 s.
const world = useWorld({ tuning: { idleFinishMs: 1_000 }, provider: { accessTokenLifetimeSeconds: LIFETIME_SECONDS } });
/** The same, for a provider whose refresh leaves the old access token alive: there the margin may force a refresh. */
const keepsOld = useWorld({ provider: { accessTokenLifetimeSeconds: LIFETIME_SECONDS }, providerConfig: { refreshEndsOldAccessToken: false } });

const tokenCalls = (user: string, w = world) => w.provider.stats.tokenCallsByFamily.get(user) ?? 0;

async function runsOf(user: string): Promise<{ runId: string; status: string }[]> {
  const runs: { runId: string; status: string }[] = [];
  for await (const info of world.temporal.workflow.list({ query: `WorkflowId = '${linkWorkflowId(world.key(user))}'` })) {
    runs.push({ runId: info.runId, status: info.status.name });
  }
  return runs;
}

describe('idle runs finish and requests still get answers', () => {
  it('getToken calls at random gaps around the idle finish (some landing as a run closes) all resolve with a valid token, across several runs', async () => {
    const user = uniqueUser('race');
    const seeded = await world.seedLink(user, { expiresInSeconds: 3_600 });
    const completedRuns = async () => (await runsOf(user)).filter((r) => r.status === 'COMPLETED').length;
    const calls: Promise<{ accessToken: string }>[] = [];
    // The idle check runs on a timer of at least 1 s, so a run ends 1-2 s after its last request: gaps of
    // 0.8-2.2 s straddle that moment. At least 8 s, and on until 2 runs have closed (at most 20 s).
    const started = Date.now();
    while (Date.now() - started < 8_000 || (Date.now() - started < 20_000 && (await completedRuns()) < 2)) {
      calls.push(world.client.getToken({ provider: world.providerId, user, minValidSeconds: 10 }));
      // The gaps are the scenario, not a synchronisation.
      await new Promise((resolve) => setTimeout(resolve, 800 + Math.random() * 1_400));
    }

    const results = await Promise.allSettled(calls);

    expect(calls.length).toBeGreaterThanOrEqual(4);
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toEqual([]);
    for (const r of results) {
      const token = (r as PromiseFulfilledResult<{ accessToken: string }>).value;
      expect(token.accessToken).toBe(seeded.accessToken);
      expect(world.provider.isAccessTokenValid(token.accessToken)).toBe(true);
    }
    expect(tokenCalls(user)).toBe(0);
    // The runs really closed in between: more than one run, and finished ones completed (not failed).
    await until(async () => (await completedRuns()) >= 2, 10_000, 'two completed runs');
    const runs = await runsOf(user);
    expect(new Set(runs.map((r) => r.runId)).size).toBeGreaterThan(1);
    expect(runs.filter((r) => r.status !== 'COMPLETED' && r.status !== 'RUNNING')).toEqual([]);
  });
});

describe('minValidSeconds longer than the token lifetime is capped at half the lifetime (a provider whose refresh keeps the old token)', () => {
  it('60 s token with 50 s left, asked for 3600 s twice: 50 s >= the 30 s cap, so served as is, no exchange', async () => {
    const user = uniqueUser('cap-fresh');
    const seeded = await keepsOld.seedLink(user, { lifetimeSeconds: LIFETIME_SECONDS, expiresInSeconds: 50 });

    const first = await keepsOld.client.getToken({ provider: keepsOld.providerId, user, minValidSeconds: 3_600 });
    const second = await keepsOld.client.getToken({ provider: keepsOld.providerId, user, minValidSeconds: 3_600 });

    expect(first.accessToken).toBe(seeded.accessToken);
    expect(second.accessToken).toBe(seeded.accessToken);
    expect(tokenCalls(user, keepsOld)).toBe(0);
  });

  it('60 s token with 20 s left, asked for 3600 s twice: exactly 1 exchange, then the new 60 s token satisfies the capped margin', async () => {
    const user = uniqueUser('cap-stale');
    const seeded = await keepsOld.seedLink(user, { lifetimeSeconds: LIFETIME_SECONDS, expiresInSeconds: 20 });

    const first = await keepsOld.client.getToken({ provider: keepsOld.providerId, user, minValidSeconds: 3_600 });
    const second = await keepsOld.client.getToken({ provider: keepsOld.providerId, user, minValidSeconds: 3_600 });

    expect(first.accessToken).not.toBe(seeded.accessToken);
    expect(second.accessToken).toBe(first.accessToken);
    expect(tokenCalls(user, keepsOld)).toBe(1);
    // The new token's lifetime (what the cap is computed from) comes from the provider's answer.
    const row = await keepsOld.row(user);
    expect(row.extra?.expires_in).toBe(LIFETIME_SECONDS);
    expect(row.accessToken).toBe(first.accessToken);
  });

  it('below the cap the asked margin applies as is: with 25 s left a 20 s margin is served, a 28 s margin refreshes', async () => {
    // Cap = 60 / 2 = 30 s. min(20, 30) = 20 <= 25: served. min(28, 30) = 28 > 25: refresh.
    const user = uniqueUser('cap-small');
    const seeded = await keepsOld.seedLink(user, { lifetimeSeconds: LIFETIME_SECONDS, expiresInSeconds: 25 });

    const token = await keepsOld.client.getToken({ provider: keepsOld.providerId, user, minValidSeconds: 20 });
    expect(token.accessToken).toBe(seeded.accessToken);
    expect(tokenCalls(user, keepsOld)).toBe(0);

    const refreshed = await keepsOld.client.getToken({ provider: keepsOld.providerId, user, minValidSeconds: 28 });
    expect(refreshed.accessToken).not.toBe(seeded.accessToken);
    expect(tokenCalls(user, keepsOld)).toBe(1);
  });
});

describe('an agent never waits forever', () => {
  it('getToken gives up with provider_unavailable at its deadline while the run cannot make progress', async () => {
    const user = uniqueUser('deadline');
    await world.seedLink(user, { expiresInSeconds: -5 });
    world.provider.injectFault('token', { kind: 'hang', ms: 30_000 }, { familyId: user });
    const patient = new TunedExtauthClient(world.temporal, { taskQueue: world.taskQueue, requestTimeoutMs: 2_000 }, { ...FAST_TUNING, exchangeAttemptMs: 25_000, exchangeBudgetMs: 60_000 });
    const started = Date.now();
    const err = await agentError(patient.getToken({ provider: world.providerId, user }));
    expect(err.code).toBe('provider_unavailable');
    expect(err.reason).toMatch(/no answer within 2 s/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('more life than the held token has, where a refresh ends it (GitHub)', () => {
  it('60 s token with 20 s left, asked for 3600 s: served with the life it has and told so, no exchange; the refresh comes when that is over', async () => {
    const user = uniqueUser('told-short');
    const expiresAt = Date.now() + 20_000;
    const seeded = await world.seedLink(user, { lifetimeSeconds: LIFETIME_SECONDS, expiresInSeconds: 20 });

    const served = await world.client.getToken({ provider: world.providerId, user, minValidSeconds: 3_600 });
    expect(served.accessToken).toBe(seeded.accessToken);
    expect(Date.parse(served.expiresAt!)).toBeLessThanOrEqual(expiresAt + 1_000);
    expect(tokenCalls(user)).toBe(0);
    // The control is the describe above: the same request on a provider that keeps old tokens alive exchanges at once.
  });
});
