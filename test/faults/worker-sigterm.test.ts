// A deploy sends SIGTERM: the real `extauth worker` stops polling, lets the exchange it has in flight finish, and
// exits once Temporal has recorded the answer, so no rotation is lost however often it happens (docs/operations.md,
// "Stopping and deploys"). The control, SIGKILL at the same point, loses the rotation: the provider rotated, its
// answer died with the process, and a GitHub-style provider (no grace window) refuses the old refresh token.
//
// The exchange is held in flight by the provider (a `hang` before it rotates and answers), and the signal goes to
// the worker that runs it, named by the pending activity's worker identity (`<pid>@<host>`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkWorkflowId } from '../../core/ids.js';
import { agentError } from '../support/helpers.js';
import { uniqueUser } from '../support/world.js';
import { expectFollowsProvider, startCluster, type Cluster, type WorkerProcess } from './support/cluster.js';

// An attempt long enough for the held answer; the provider answers 3 s after the request arrives.
const TUNING = { exchangeAttemptMs: 10_000, exchangeBudgetMs: 60_000, validateAttemptMs: 2_000, validateBudgetMs: 20_000, retryInitialMs: 100, retryMaxMs: 500 };
const HOLD_MS = 3_000;
const ROUNDS = 10;
const WORKER_START_MS = 120_000;

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster({ tuning: TUNING }); // GitHub-style: rotates on every refresh, no grace window, no reuse detection
  await Promise.all([cluster.startWorker(), cluster.startWorker()].map((w) => w.waitFor('worker started', WORKER_START_MS)));
}, 2 * WORKER_START_MS);
afterAll(async () => {
  expect(cluster.leakedTokens()).toEqual([]);
  await cluster.stop();
});

const get = (user: string) => cluster.client.getToken({ provider: cluster.providerId, user, minValidSeconds: 60 });

/** Starts a refresh whose exchange the provider holds, and returns the worker running that exchange (the answer not yet sent). */
async function exchangeInFlight(user: string): Promise<{ request: ReturnType<typeof get>; worker: WorkerProcess }> {
  cluster.provider.injectFault('token', { kind: 'hang', ms: HOLD_MS }, { familyId: user });
  const request = get(user);
  request.catch(() => undefined);
  const handle = cluster.temporal.workflow.getHandle(linkWorkflowId(cluster.key(user)));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if ((cluster.provider.stats.tokenCallsByFamily.get(user) ?? 0) === 1) {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      const identity = pending.find((a) => a.activityType?.name === 'exchangeRefreshToken')?.lastWorkerIdentity ?? '';
      const worker = cluster.liveWorkers().find((w) => identity.startsWith(`${w.pid}@`));
      if (worker) {
        // Still held: the signal lands while the provider has not answered yet.
        expect(cluster.provider.stats.undeliveredRotations.get(user) ?? 0).toBe(0);
        return { request, worker };
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no exchange for ${user} in flight within 30 s`);
}

async function replace(victim: WorkerProcess): Promise<void> {
  await victim.exited;
  await cluster.startWorker().waitFor('worker started', WORKER_START_MS);
}

describe.sequential('worker stopped while an exchange is in flight', () => {
  it(`SIGTERM (every other round twice), ${ROUNDS} rounds: every refresh served, the row follows the provider, 0 rotations lost; the worker exits 0`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const user = uniqueUser(`term-${round}`);
      const seeded = await cluster.seedLink(user, { expiresInSeconds: -10 });
      const { request, worker } = await exchangeInFlight(user);
      process.kill(worker.pid, 'SIGTERM');
      // Odd rounds: a second SIGTERM mid-drain (a group signal plus a forwarded one, a repeating process manager).
      // The SDK's Runtime drops its signal hooks after the first; without a handler of our own Node died of it.
      const twice = round % 2 === 1;
      if (twice) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        process.kill(worker.pid, 'SIGTERM');
      }
      expect(await worker.exited).toBe(0);
      expect(worker.lines.some((l) => l.includes('worker stopping'))).toBe(true);
      if (twice) expect(worker.lines.some((l) => l.includes('already stopping'))).toBe(true);

      const token = await request;
      expect(token.accessToken).not.toBe(seeded.accessToken);
      await expectFollowsProvider(cluster, user, token.accessToken, { exchanges: [1] });
      expect(cluster.provider.stats.undeliveredRotations.get(user) ?? 0).toBe(0);
      await replace(worker);
    }
  }, ROUNDS * 60_000);

  it('control, SIGKILL at the same point: the rotation is lost (reauth_required; the provider rotated and nobody received its answer)', async () => {
    const user = uniqueUser('kill');
    const seeded = await cluster.seedLink(user, { expiresInSeconds: -10 });
    const { request, worker } = await exchangeInFlight(user);
    await worker.kill('SIGKILL');
    const err = await agentError(request);
    expect(err.code).toBe('reauth_required');
    expect(cluster.provider.stats.undeliveredRotations.get(user)).toBe(1);
    expect(cluster.provider.liveRefreshToken(user)).not.toBe(seeded.refreshToken);
    expect((await cluster.row(user)).refreshToken).toBe('');
    await replace(worker);
  }, 120_000);
});
