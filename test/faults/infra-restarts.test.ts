// Postgres stopped during persist and restarted; the Temporal dev server (on disk) restarted during a
// refresh. Own servers (support/cluster.ts), so that the shared ones of the other test files stay up.
// The provider detects refresh-token reuse (no grace window): a retry presenting a used token would show.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtauthClient, ExtauthError } from '../../client/index.js';
import { TunedExtauthClient } from '../../client/tuned-client.js';
import type { TokenGrant } from '../../core/types.js';
import { uniqueUser } from '../support/world.js';
import { expectFollowsProvider, startCluster, type Cluster } from './support/cluster.js';

const TUNING = { exchangeAttemptMs: 3_000, exchangeBudgetMs: 90_000, validateAttemptMs: 2_000, validateBudgetMs: 20_000, retryInitialMs: 100, retryMaxMs: 1_000 };
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({ provider: { reuseDetection: {} }, tuning: TUNING });
  await cluster.startWorker({ hooked: true }).waitFor('worker started');
});
afterAll(async () => {
  expect(cluster.leakedTokens()).toEqual([]);
  expect(cluster.workerLines.filter((l) => l.includes('Failing workflow task'))).toEqual([]);
  await cluster.stop();
});

/** An agent: asks, and asks again when the transport (not extauth) failed, for up to a minute. */
async function agentGet(user: string, client: ExtauthClient = cluster.client): Promise<{ token: TokenGrant; transportRetries: number }> {
  const deadline = Date.now() + 60_000;
  for (let transportRetries = 0; ; transportRetries++) {
    try {
      return { token: await client.getToken({ provider: cluster.providerId, user, minValidSeconds: 60 }), transportRetries };
    } catch (err) {
      if (err instanceof ExtauthError || Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}


describe.sequential('infrastructure restarts during a refresh', () => {
  it('Postgres stopped during persist, restarted 3 s later: persist waits it out, served, 1 exchange', async () => {
    const user = uniqueUser('pgdown');
    await cluster.seedLink(user, { expiresInSeconds: -10 });
    const release = join(cluster.dir, `${user}.go`);
    await cluster.armPause({ step: 'before-persist', user, marker: join(cluster.dir, `${user}.paused`), release });
    const request = agentGet(user);
    request.catch(() => undefined);
    const worker = await cluster.pausedWorker('before-persist');
    await cluster.stopPostgres();
    const linesBefore = worker.lines.length;
    writeFileSync(release, '');
    await sleep(3_000);
    await cluster.startPostgres();
    const { token } = await request;
    await expectFollowsProvider(cluster, user, token.accessToken, { exchanges: [1] });
    // The persist attempts against the stopped database failed and were retried.
    expect(worker.lines.slice(linesBefore).some((l) => /persist/i.test(l) && /ECONNREFUSED|connect|terminat/i.test(l))).toBe(true);
  }, 120_000);

  it('Temporal restarted after the provider rotated, before the exchange result reached it: served, 1 exchange', async () => {
    // The restart must fit in the exchange attempt's start-to-close (15 s by default): here 30 s, so that a
    // slow restart on a loaded machine cannot turn this row into the next one.
    const client = new TunedExtauthClient(cluster.temporal, { taskQueue: cluster.taskQueue }, { ...TUNING, exchangeAttemptMs: 30_000 });
    const user = uniqueUser('tdown');
    await cluster.seedLink(user, { expiresInSeconds: -10 });
    const release = join(cluster.dir, `${user}.go`);
    await cluster.armPause({ step: 'exchange-answered', user, marker: join(cluster.dir, `${user}.paused`), release });
    const request = agentGet(user, client);
    request.catch(() => undefined);
    await cluster.pausedWorker('exchange-answered');
    await cluster.restartTemporal();
    writeFileSync(release, '');
    const { token } = await request;
    await expectFollowsProvider(cluster, user, token.accessToken, { exchanges: [1] });
  }, 120_000);

  it('Temporal down past the exchange attempt\'s start-to-close while the answer waits: the attempt times out and is retried; the retry finds the journaled answer: served, 1 exchange', async () => {
    // The answer was journaled on the row before this pause: the retried attempt finds it and calls the provider no
    // more (docs/reliability.md, the rotation journal). The grace window would cover a retry that did not.
    const user = uniqueUser('tlong');
    cluster.provider.setReuseDetection(user, { graceMs: 60_000 });
    await cluster.seedLink(user, { expiresInSeconds: -10 });
    const release = join(cluster.dir, `${user}.go`);
    await cluster.armPause({ step: 'exchange-answered', user, marker: join(cluster.dir, `${user}.paused`), release });
    const request = agentGet(user);
    request.catch(() => undefined);
    await cluster.pausedWorker('exchange-answered');
    const pausedAt = Date.now();
    await cluster.restartTemporal();
    await sleep(Math.max(0, TUNING.exchangeAttemptMs + 2_000 - (Date.now() - pausedAt)));
    writeFileSync(release, '');
    const { token } = await request;
    await expectFollowsProvider(cluster, user, token.accessToken, { exchanges: [1] });
  }, 120_000);
});
