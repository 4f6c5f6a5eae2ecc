// A request answered later than its token's expiry: the run judges a request by the agent's clock as it was sent, and
// when no worker could take the run's task for a while (every worker down, or starved), the answer can arrive after
// the token it carries has expired. What the soak found under load: tokens dead on arrival. The client asks once more
// with its clock as it reads then, and the run refreshes.
import { WithStartWorkflowOperation } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { linkWorkflowId } from '../core/ids.js';
import { getTokenUpdate } from '../workflows/messages.js';
import { uniqueUser, useWorld } from './support/world.js';

const world = useWorld({ provider: { accessTokenLifetimeSeconds: 60 } });

/** Longer than the seeded token's remaining life (TOKEN_LEFT_S): the worker comes back after it expired. */
const WORKER_DOWN_MS = 6_000;
const TOKEN_LEFT_S = 3;
const tokenCalls = (user: string) => world.provider.stats.tokenCallsByFamily.get(user) ?? 0;

describe('an answer that arrives after the token it carries expired', () => {
  it('the client asks once more with its clock as it reads now: the agent gets a fresh token, never the dead one', async () => {
    const user = uniqueUser('late');
    const seeded = await world.seedLink(user, { expiresInSeconds: TOKEN_LEFT_S, lifetimeSeconds: TOKEN_LEFT_S });
    await world.pauseWorker();
    const pending = world.client.getToken({ provider: world.providerId, user, minValidSeconds: 1 });
    await sleep(WORKER_DOWN_MS);
    await world.resumeWorker();
    const token = await pending;

    expect(world.provider.isAccessTokenValid(seeded.accessToken)).toBe(false); // expired while the worker was down
    expect(token.accessToken).not.toBe(seeded.accessToken);
    expect(world.provider.isAccessTokenValid(token.accessToken)).toBe(true);
    expect(Date.parse(token.expiresAt!)).toBeGreaterThan(Date.now());
    expect(tokenCalls(user)).toBe(1);
  }, 60_000);

  it('control: the same late request as a single update is answered with the token that expired in the meantime', async () => {
    const user = uniqueUser('late-control');
    const seeded = await world.seedLink(user, { expiresInSeconds: TOKEN_LEFT_S, lifetimeSeconds: TOKEN_LEFT_S });
    await world.pauseWorker();
    const key = world.key(user);
    const startWorkflowOperation = new WithStartWorkflowOperation('linkWorkflow', {
      workflowId: linkWorkflowId(key),
      taskQueue: world.taskQueue,
      args: [key],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    const pending = world.temporal.workflow.executeUpdateWithStart(getTokenUpdate, { args: [{ minValidSeconds: 1, nowMs: Date.now() }], startWorkflowOperation });
    await sleep(WORKER_DOWN_MS);
    await world.resumeWorker();
    const answer = await pending;

    expect(answer.accessToken).toBe(seeded.accessToken);
    expect(Date.parse(answer.expiresAt!)).toBeLessThan(Date.now());
    expect(world.provider.isAccessTokenValid(answer.accessToken)).toBe(false);
    expect(tokenCalls(user)).toBe(0);
  }, 60_000);
});
