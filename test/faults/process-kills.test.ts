// Worker PROCESSES killed with SIGKILL at each step boundary of a refresh; two worker processes serve one
// task queue throughout, and the killed one is replaced. Own Temporal server and Postgres (support/cluster.ts);
// the pauses come from the test-only entry support/hooked-worker.ts.
//
// The provider detects refresh-token reuse (Okta/Auth0 style, no grace window) for every link unless a
// test says otherwise, so any retry of ours that presented a used refresh token would revoke the family.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentError } from '../support/helpers.js';
import { uniqueUser } from '../support/world.js';
import type { PauseStep } from './support/hooked-worker.js';
import { expectFollowsProvider, startCluster, type Cluster } from './support/cluster.js';

const TUNING = { exchangeAttemptMs: 3_000, exchangeBudgetMs: 90_000, validateAttemptMs: 2_000, validateBudgetMs: 20_000, retryInitialMs: 100, retryMaxMs: 500 };
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({ provider: { reuseDetection: {} }, tuning: TUNING });
  const workers = [cluster.startWorker({ hooked: true }), cluster.startWorker({ hooked: true })];
  await Promise.all(workers.map((w) => w.waitFor('worker started')));
});
afterAll(async () => {
  expect(cluster.leakedTokens()).toEqual([]);
  expect(cluster.workerLines.filter((l) => l.includes('Failing workflow task'))).toEqual([]);
  await cluster.stop();
});

const get = (user: string) => cluster.client.getToken({ provider: cluster.providerId, user, minValidSeconds: 60 });
const calls = (user: string) => ({ token: cluster.provider.stats.tokenCallsByFamily.get(user) ?? 0, validate: cluster.provider.stats.validateCallsByFamily.get(user) ?? 0 });

/** Starts a request, SIGKILLs whichever worker reaches `step` for `user`, and starts a replacement. */
async function killAt(step: PauseStep, user: string) {
  await cluster.armPause({ step, user, marker: join(cluster.dir, `${user}.paused`) });
  const request = get(user);
  request.catch(() => undefined);
  const victim = await cluster.pausedWorker(step);
  await victim.kill('SIGKILL');
  cluster.startWorker({ hooked: true }); // back to two; the survivor picks the refresh up meanwhile
  return request;
}


describe.sequential('worker process killed with SIGKILL at a step boundary', () => {
  it.each([
    ['before-persist', 'after the exchange is recorded, before anything is written'],
    ['after-persist', 'during persist: the row is written, the activity result is not recorded'],
    ['validate-answered', 'during validate: the provider answered, the result is not recorded'],
  ] as const)('%s (%s): served, 1 exchange, the row holds the live refresh token', async (step, _what) => {
    const user = uniqueUser(`kill-${step}`);
    const seeded = await cluster.seedLink(user, { expiresInSeconds: -10 });
    const token = await killAt(step, user);
    expect(token.accessToken).not.toBe(seeded.accessToken);
    await expectFollowsProvider(cluster, user, token.accessToken);
    expect(calls(user).token).toBe(1);
    if (step === 'validate-answered') expect(calls(user).validate).toBeGreaterThanOrEqual(2);
  }, 90_000);

  it('exchange-answered-unjournaled with a grace-window provider: the retried exchange gets the same tokens back, served', async () => {
    const user = uniqueUser('kill-xgrace');
    cluster.provider.setReuseDetection(user, { graceMs: 60_000 });
    await cluster.seedLink(user, { expiresInSeconds: -10 });
    const replays = cluster.provider.stats.graceReplays;
    const token = await killAt('exchange-answered-unjournaled', user);
    await expectFollowsProvider(cluster, user, token.accessToken);
    expect(calls(user).token).toBe(2);
    expect(cluster.provider.stats.graceReplays).toBe(replays + 1);
  }, 90_000);

  it('exchange-answered with GitHub (no grace): the journaled answer is recovered, served, 1 rotation at the provider', async () => {
    // The provider rotated and the answer was journaled on the row; the process died before Temporal recorded it.
    // The retried exchange finds the journal and returns it without presenting the dead refresh token.
    const user = uniqueUser('kill-xjournal');
    cluster.provider.setReuseDetection(user, false);
    const seeded = await cluster.seedLink(user, { expiresInSeconds: -10 });
    const token = await killAt('exchange-answered', user);
    expect(token.accessToken).not.toBe(seeded.accessToken);
    await expectFollowsProvider(cluster, user, token.accessToken);
    expect(calls(user).token).toBe(1);
    const row = await cluster.row(user);
    expect(row.pendingRotation).toBeNull(); // persist applied and cleared it
    const journaled = cluster.workerLines.filter((l) => l.includes(user) && l.includes('"outcome":"journaled"'));
    expect(journaled).toHaveLength(1);
  }, 90_000);

  it('exchange-answered-unjournaled with GitHub (no grace): the remaining window, the documented loss, reauth_required', async () => {
    // The control of the test above: killed between the provider's answer and the journal's one UPDATE, nobody can
    // learn the new refresh token. This is the one window in which a crash still costs a rotation.
    const user = uniqueUser('kill-xgh');
    cluster.provider.setReuseDetection(user, false);
    const seeded = await cluster.seedLink(user, { expiresInSeconds: -10 });
    const err = await agentError(killAt('exchange-answered-unjournaled', user));
    expect(err.code).toBe('reauth_required');
    expect(err.reason).toMatch(/bad_refresh_token/);
    // The killed attempt could note nothing, but its request was marked before it went out.
    expect(err.reason).toMatch(/earlier exchange request was sent at .* and its answer was never recorded/);
    expect((await cluster.row(user)).refreshToken).toBe('');
    expect(cluster.provider.liveRefreshToken(user)).not.toBe(seeded.refreshToken);
    expect(calls(user).token).toBe(2);
  }, 90_000);

  it('the real `extauth worker` finishes a refresh whose worker was killed after the exchange', async () => {
    const user = uniqueUser('real');
    await cluster.seedLink(user, { expiresInSeconds: -10 });
    await cluster.armPause({ step: 'before-persist', user, marker: join(cluster.dir, `${user}.paused`) });
    const request = get(user);
    request.catch(() => undefined);
    const victim = await cluster.pausedWorker('before-persist');
    const real = cluster.startWorker(); // bin/extauth.js worker, bundling its workflows at start
    await real.waitFor('worker started', 90_000);
    // Only the paused worker and the real one are left on the queue; then the paused one dies.
    await Promise.all(cluster.liveWorkers().filter((w) => w !== victim && w !== real).map((w) => w.kill('SIGKILL')));
    await victim.kill('SIGKILL');
    const token = await request;
    await expectFollowsProvider(cluster, user, token.accessToken);
    expect(calls(user).token).toBe(1);

    // The survivor keeps serving: the provider ends the token, a forced refresh rotates once more and the row follows.
    cluster.provider.revokeAccessToken(token.accessToken);
    const status = await cluster.client.refresh({ provider: cluster.providerId, user });
    expect(status.state).toBe('ok');
    expect(calls(user).token).toBe(2);
    expect((await cluster.row(user)).refreshToken).toBe(cluster.provider.liveRefreshToken(user));
  }, 150_000);
});
