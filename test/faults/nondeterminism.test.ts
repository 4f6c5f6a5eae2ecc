// A history that cannot be replayed (an sdk-core bug writes some: docs/reliability.md, "Unreplayable histories") must fail the
// link's run, so that the next request starts a new run from the row, instead of retrying its workflow task forever.
// Stand-in for such a history: a run that recorded an exchange, then replayed by a worker whose linkWorkflow has one
// extra timer before the exchange (test/replay/broken-workflow). The control, without the worker option, proves that
// the test can fail: the run stays stuck and the agent is not served.
import { WorkflowFailedError } from '@temporalio/client';
import proto from '@temporalio/proto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { TunedExtauthClient } from '../../client/tuned-client.js';
import { endStuckRuns } from '../../worker/recovery-sweep.js';
import { linkWorkflowId } from '../../core/ids.js';
import type { TokenGrant } from '../../core/types.js';
import { bundleBrokenWorkflow } from '../replay/broken-workflow/build.js';
import { agentError } from '../support/helpers.js';
import { FAST_TUNING, uniqueUser, useWorld } from '../support/world.js';

const world = useWorld();
let brokenCode: string;

beforeAll(async () => {
  brokenCode = await bundleBrokenWorkflow();
}, 120_000);

const ref = (user: string) => ({ provider: world.providerId, user });
const tokenCalls = (user: string) => world.provider.stats.tokenCallsByFamily.get(user) ?? 0;
/** An agent that gives up after 8 s (provider_unavailable): a served request takes well under a second here. */
const impatientClient = () => new TunedExtauthClient(world.temporal, { taskQueue: world.taskQueue, requestTimeoutMs: 8_000 }, FAST_TUNING);
const handle = (user: string, runId?: string) => world.temporal.workflow.getHandle(linkWorkflowId(world.key(user)), runId);

/** A link's open run whose history records an exchange, run by a worker with the real workflows. */
async function runWithRecordedExchange(user: string): Promise<{ runId: string; first: TokenGrant }> {
  await world.seedLink(user, { expiresInSeconds: -10 });
  const first = await world.client.getToken(ref(user));
  expect(tokenCalls(user)).toBe(1);
  const described = await handle(user).describe();
  expect(described.status.name).toBe('RUNNING');
  return { runId: described.runId, first };
}

async function historyOf(user: string, runId: string) {
  return (await handle(user, runId).fetchHistory()).events ?? [];
}

const { EventType, WorkflowTaskFailedCause } = proto.temporal.api.enums.v1;

describe.sequential('a run whose history cannot be replayed', () => {
  it('fails (NondeterminismError is a workflow failure type) and the request is served by a new run from the row', async () => {
    const user = uniqueUser('nde');
    const { runId, first } = await runWithRecordedExchange(user);
    // The new worker has no cached run: it replays the history, and its workflow differs at the exchange.
    await world.replaceWorker({ workflowBundle: { code: brokenCode } });

    const second = await impatientClient().getToken(ref(user));

    // The old run failed with the nondeterminism error...
    expect((await handle(user, runId).describe()).status.name).toBe('FAILED');
    const failure = await handle(user, runId).result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(String((failure as WorkflowFailedError).cause?.message)).toMatch(/nondetermin/i);
    // ...and a new run, started by the retried request, loaded the row and answered it.
    const current = await handle(user).describe();
    expect(current.runId).not.toBe(runId);
    expect(current.status.name).toBe('RUNNING');
    const newRunEvents = await historyOf(user, current.runId);
    expect(newRunEvents.some((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED)).toBe(true);
    // The token the old run exchanged and persisted: no lost rotation, no second exchange, no false re-auth.
    expect(second.accessToken).toBe(first.accessToken);
    expect(world.provider.isAccessTokenValid(second.accessToken)).toBe(true);
    expect(tokenCalls(user)).toBe(1);
    const row = await world.row(user);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
    expect(row.accessToken).toBe(second.accessToken);
    expect(row.failureReason).toBe('');
  });

  it('control: without it, the run stays open on a failing workflow task and the agent is not served', async () => {
    await world.replaceWorker(); // the real workflows again
    const user = uniqueUser('nde-off');
    const { runId } = await runWithRecordedExchange(user);
    await world.replaceWorker({ workflowBundle: { code: brokenCode }, failOnNondeterminism: false });

    const err = await agentError(impatientClient().getToken(ref(user)));

    expect(err.code).toBe('provider_unavailable');
    expect(tokenCalls(user)).toBe(1);
    const described = await handle(user).describe();
    expect(described.runId).toBe(runId);
    expect(described.status.name).toBe('RUNNING');
    expect(described.raw.pendingWorkflowTask?.attempt).toBeGreaterThan(1);
    const failedTasks = (await historyOf(user, runId)).filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED);
    expect(failedTasks.map((e) => e.workflowTaskFailedEventAttributes?.cause)).toContain(WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR);
    await handle(user, runId).terminate('stuck on purpose (control of the nondeterminism test)');
  });

  it('a run stuck on such a task (as the sdk-core bug leaves it, option or not) is ended by the recovery sweep; the agent waiting on it is served by a new run', async () => {
    await world.replaceWorker(); // the real workflows again
    const user = uniqueUser('nde-stuck');
    const { runId, first } = await runWithRecordedExchange(user);
    await world.replaceWorker({ workflowBundle: { code: brokenCode }, failOnNondeterminism: false });
    const sweep = {
      pool: world.pool,
      temporal: world.temporal,
      extauth: world.client,
      logger: pino({ level: 'silent' }),
      taskQueue: world.taskQueue,
      providerIds: [world.providerId],
    };

    // A patient agent (the default 180 s deadline) asks while the run is stuck.
    const served = world.client.getToken(ref(user));
    let ended = 0;
    const deadline = Date.now() + 60_000;
    while (ended === 0 && Date.now() < deadline) {
      await sleep(1_000);
      ended = await endStuckRuns(sweep); // Temporal flags the run after 2 failed or timed-out tasks (dev/temporal.ts)
    }
    expect(ended).toBe(1);
    const second = await served;

    expect((await handle(user, runId).describe()).status.name).toBe('TERMINATED');
    const current = await handle(user).describe();
    expect(current.runId).not.toBe(runId);
    expect(current.status.name).toBe('RUNNING');
    expect(second.accessToken).toBe(first.accessToken);
    expect(tokenCalls(user)).toBe(1);
    const row = await world.row(user);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
    expect(row.failureReason).toBe('');
    expect(await endStuckRuns(sweep)).toBe(0); // nothing left to end
  }, 120_000);
});
