// Keep-alive for links nobody asks for: a link with no open run has no timer, so the keep-alive sweep (started by one
// Temporal Schedule per task queue) asks the runs of due links to refresh. Real Temporal and Postgres; the fake
// provider counts token calls per grant family.
import { ActivityFailure, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { keepAliveRules, KEEP_ALIVE_BATCH_SIZE, type KeepAliveSweepInput, type KeepAliveSweepResult } from '../activities/keep-alive.js';
import { ensureKeepAliveSchedule, keepAliveScheduleId } from '../worker/keep-alive-schedule.js';
import { makeCodecKeys, parseCodecKey } from '../codec/keys.js';
import { TokenSealer } from '../codec/seal.js';
import { createLogger } from '../config/logger.js';
import { linkWorkflowId } from '../core/ids.js';
import { parseProviders, type ProviderInput } from '../providers/config.js';
import { listKeepAliveDue, putLink, writeRefreshFailure } from '../store/links.js';
import { createExtauthWorker } from '../worker.js';
import { closeActivityDeps, createActivityDeps } from '../worker/activity-deps.js';
import { launchWorker } from '../worker/launch.js';
import { until } from './support/helpers.js';
import { logLines, uniqueUser, useWorld, type World } from './support/world.js';

/** Ten minutes: due 5 minutes after the refresh token was stored (the margin is at most half of it). */
const KEEP_ALIVE_SECONDS = 600;
const IDLE_FINISH_MS = 1_000;
/** Links due in the control of "keep-alive at scale". */
const OLD_PLAN_DUE = 20;
const settings = { tuning: { idleFinishMs: IDLE_FINISH_MS }, providerConfig: { refreshAheadSeconds: 0, keepAliveSeconds: KEEP_ALIVE_SECONDS } };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const world = useWorld(settings);
const bulk = useWorld(settings);
/** The control: link runs that plan keep-alive themselves, as before 4 December 2026 (workflows/policies.ts runKeepAlive). */
const oldPlan = useWorld({ ...settings, tuning: { ...settings.tuning, runKeepAlive: true } });

const logger = createLogger({ write: (line: string) => void logLines.push(line) }, 'debug');
const tokenCalls = (w: World, user: string) => w.provider.stats.tokenCallsByFamily.get(user) ?? 0;

/** The world's provider as its worker has it (parseProviders fills the same defaults). */
function providerOf(w: World, overrides: Partial<ProviderInput> = {}) {
  return parseProviders([
    { id: w.providerId, type: 'github', tokenUrl: w.provider.tokenUrl, validateUrl: w.provider.validateUrl, clientId: w.provider.clientId, clientSecret: w.provider.clientSecret, ...settings.providerConfig, ...overrides },
  ]);
}

/** Rows written an hour ago, as if stored by `link put` then and never refreshed since. */
async function age(w: World, users: string[], providerId = w.providerId): Promise<void> {
  await w.pool.query(
    `UPDATE external_auth_links SET created_at = now() - interval '1 hour', updated_at = now() - interval '1 hour'
     WHERE provider_id = $1 AND user_id = ANY($2)`,
    [providerId, users],
  );
}

async function hasRun(w: World, user: string): Promise<boolean> {
  try {
    await w.temporal.workflow.getHandle(linkWorkflowId(w.key(user))).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/**
 * A worker of its own task queue running keepAliveWorkflow with the production activities (createActivities), whose
 * ExtauthClient opens runs on the world's task queue. The world's own worker has no client for that (deps.extauth).
 */
async function startSweeper(w: World) {
  const taskQueue = `${w.taskQueue}-keep-alive`;
  const sealer = new TokenSealer(makeCodecKeys(parseCodecKey(inject('workerKey'), 'workerKey')));
  const deps = createActivityDeps({ databaseUrl: inject('databaseUrl'), providers: providerOf(w), logger, cipher: w.cipher ?? null, sealer });
  deps.extauth = w.client;
  const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const worker: Worker = await createExtauthWorker({
    connection,
    namespace: 'default',
    taskQueue,
    deps,
    codecKeys: makeCodecKeys(parseCodecKey(inject('codecKey'), 'codecKey')),
    workflowBundle: { codePath: inject('workflowBundlePath') },
  });
  const running = worker.run();
  return {
    /** One sweep, as the schedule starts it; with its history length. */
    async sweep(input: KeepAliveSweepInput = {}): Promise<KeepAliveSweepResult & { historyEvents: number }> {
      const handle = await w.temporal.workflow.start('keepAliveWorkflow', { taskQueue, workflowId: `keep-alive-${randomBytes(4).toString('hex')}`, args: [input] });
      const result = (await handle.result()) as KeepAliveSweepResult;
      return { ...result, historyEvents: (await handle.describe()).historyLength };
    },
    async stop() {
      worker.shutdown();
      await running;
      await Promise.allSettled([connection.close(), closeActivityDeps(deps)]);
    },
  };
}

describe('keep-alive of links nobody asks for', () => {
  let sweeper: Awaited<ReturnType<typeof startSweeper>>;
  beforeAll(async () => {
    sweeper = await startSweeper(world);
  });
  afterAll(async () => sweeper?.stop());

  it('a stored link with no run and nobody asking is refreshed by one sweep; a link not yet due is not touched', async () => {
    const due = uniqueUser('due');
    const recent = uniqueUser('recent');
    // Stored as by `link put`, access tokens long expired (the usual state of a link idle for weeks).
    await world.seedLink(due, { expiresInSeconds: -60 });
    await world.seedLink(recent, { expiresInSeconds: -60 });
    await age(world, [due]);
    // Nothing would refresh it: no run, so no keep-alive timer.
    expect(await hasRun(world, due)).toBe(false);

    const result = await sweeper.sweep();
    expect(result.requested).toBeGreaterThanOrEqual(1);
    expect(result.failed).toBe(0);

    await until(() => tokenCalls(world, due) === 1, 20_000, 'the keep-alive refresh of the idle link');
    await until(async () => (await world.row(due)).lastRefreshedAt !== null, 10_000, 'the rotated tokens stored');
    expect((await world.row(due)).refreshToken).toBe(world.provider.liveRefreshToken(due));
    // The control: stored 0 s ago, not due for another 5 minutes.
    expect(tokenCalls(world, recent)).toBe(0);
    expect(await hasRun(world, recent)).toBe(false);
    expect((await world.row(recent)).lastRefreshedAt).toBeNull();

    // Refreshed just now, it is no longer due: the next sweep leaves it alone.
    const again = await listKeepAliveDue(world.pool, keepAliveRules(providerOf(world)), KEEP_ALIVE_BATCH_SIZE);
    expect(again.map((k) => k.userId)).not.toContain(due);
  });

  it('a link that needs re-authentication is skipped; a healthy one of the same age in the same sweep is refreshed', async () => {
    const refused = uniqueUser('refused');
    const healthy = uniqueUser('healthy');
    await world.seedLink(refused, { expiresInSeconds: -60 });
    await world.seedLink(healthy, { expiresInSeconds: -60 });
    const row = await world.row(refused);
    await writeRefreshFailure(world.pool, world.key(refused), row.tokenVersion, 'invalid_grant: the refresh token was revoked', world.cipher);
    await age(world, [refused, healthy]);

    await sweeper.sweep();
    await until(() => tokenCalls(world, healthy) === 1, 20_000, 'the healthy link refreshed');
    expect(tokenCalls(world, refused)).toBe(0);
    expect(await hasRun(world, refused)).toBe(false);
  });

  it('where a refresh ends the access token agents may hold, a due link waits until that token has expired', async () => {
    const held = uniqueUser('held');
    await world.seedLink(held, { expiresInSeconds: 3_600 });
    await age(world, [held]);
    const rules = keepAliveRules(providerOf(world));
    expect((await listKeepAliveDue(world.pool, rules, KEEP_ALIVE_BATCH_SIZE)).map((k) => k.userId)).not.toContain(held);
    await sweeper.sweep();
    expect(await hasRun(world, held)).toBe(false);

    // The control: the same link once its access token has expired is picked and refreshed.
    await world.pool.query(`UPDATE external_auth_links SET oauth_expiry = now() - interval '1 second' WHERE provider_id = $1 AND user_id = $2`, [world.providerId, held]);
    expect((await listKeepAliveDue(world.pool, rules, KEEP_ALIVE_BATCH_SIZE)).map((k) => k.userId)).toContain(held);
    await sweeper.sweep();
    await until(() => tokenCalls(world, held) === 1, 20_000, 'the link refreshed once its access token expired');

    // An access token of unknown expiry was promised nothing (toldExpiry is null): no reason to wait.
    const unknown = uniqueUser('unknown-expiry');
    await world.seedLink(unknown);
    await age(world, [unknown]);
    await world.pool.query(`UPDATE external_auth_links SET oauth_expiry = NULL WHERE provider_id = $1 AND user_id = $2`, [world.providerId, unknown]);
    expect((await listKeepAliveDue(world.pool, rules, KEEP_ALIVE_BATCH_SIZE)).map((k) => k.userId)).toContain(unknown);
  });

  it("a worker without a client of its own (as the tests' world) fails the sweep at once instead of retrying it", async () => {
    const handle = await world.temporal.workflow.start('keepAliveWorkflow', { taskQueue: world.taskQueue, workflowId: `keep-alive-${randomBytes(4).toString('hex')}`, args: [{}] });
    const failure = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const activity = (failure as WorkflowFailedError).cause as ActivityFailure;
    expect(activity).toBeInstanceOf(ActivityFailure);
    expect(activity.retryState).toBe('NON_RETRYABLE_FAILURE');
    expect(activity.cause?.message).toMatch(/no Temporal client/);
  });

  it('a provider with keepAliveSeconds 0 has no rule, and its links are never picked', async () => {
    const user = uniqueUser('off');
    await world.seedLink(user, { expiresInSeconds: -60 });
    await age(world, [user]);
    const on = keepAliveRules(providerOf(world));
    const off = keepAliveRules(providerOf(world, { keepAliveSeconds: 0 }));
    expect(off).toEqual([]);
    expect(await listKeepAliveDue(world.pool, off, KEEP_ALIVE_BATCH_SIZE)).toEqual([]);
    expect((await listKeepAliveDue(world.pool, on, KEEP_ALIVE_BATCH_SIZE)).map((k) => k.userId)).toContain(user);
  });

  it('a link whose refresh token itself expires soon is due before its keep-alive age (link runs no longer plan that refresh)', async () => {
    const soon = uniqueUser('rt-soon');
    const later = uniqueUser('rt-later');
    await world.seedLink(soon, { expiresInSeconds: -60, refreshTokenExpiresAt: new Date(Date.now() + 60_000).toISOString() });
    await world.seedLink(later, { expiresInSeconds: -60, refreshTokenExpiresAt: new Date(Date.now() + 30 * 86_400_000).toISOString() });
    await age(world, [soon, later]);
    // A 30-day keep-alive: an hour-old row is far from due by age; only the refresh token's own expiry makes it due.
    const monthly = keepAliveRules(providerOf(world, { keepAliveSeconds: 30 * 86_400 }));
    const listed = (await listKeepAliveDue(world.pool, monthly, KEEP_ALIVE_BATCH_SIZE)).map((k) => k.userId);
    expect(listed).toContain(soon);
    expect(listed).not.toContain(later);
  });
});

describe('keep-alive schedule', () => {
  it('exists once a worker has started, starts keepAliveWorkflow on its task queue hourly without overlap, ensuring it again changes nothing, and its sweep refreshes an idle link', async () => {
    const taskQueue = `extauth-test-schedule-${randomBytes(4).toString('hex')}`;
    // A provider of this worker only (the fake's endpoints under another id), so its sweep sees none of the world's links.
    const providers = providerOf(world, { id: `ka-${randomBytes(4).toString('hex')}` });
    const providerId = providers[0]!.id;
    const scheduleId = keepAliveScheduleId(taskQueue);
    const handle = world.temporal.schedule.getHandle(scheduleId);
    await expect(handle.describe()).rejects.toThrow(); // the control: no schedule before the worker starts
    const launched = await launchWorker({
      temporalAddress: inject('temporalAddress'),
      namespace: 'default',
      taskQueue,
      databaseUrl: inject('databaseUrl'),
      providers,
      logger,
      codecKeys: makeCodecKeys(parseCodecKey(inject('codecKey'), 'codecKey')),
      sealer: new TokenSealer(makeCodecKeys(parseCodecKey(inject('workerKey'), 'workerKey'))),
      cipher: world.cipher,
    });
    try {
      const described = await handle.describe();
      expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'keepAliveWorkflow', taskQueue, workflowId: scheduleId });
      expect(described.spec.intervals?.map((interval) => interval.every)).toEqual([3_600_000]);
      expect(described.policies.overlap).toBe('SKIP');
      // Every worker ensures it at start: the second (and any later) call finds it and leaves it as it is.
      expect(await ensureKeepAliveSchedule(world.temporal, taskQueue)).toBe(false);
      expect((await handle.describe()).info.createdAt).toEqual(described.info.createdAt);

      // End to end as in production: the schedule starts the sweep on the worker, whose own client opens the link's run.
      const user = uniqueUser('scheduled');
      const grant = world.provider.issueGrant({ familyId: user });
      const expired = new Date(Date.now() - 60_000).toISOString();
      await putLink(world.pool, { providerId, userId: user }, { accessToken: grant.accessToken, refreshToken: grant.refreshToken, tokenType: 'bearer', expiresAt: expired, extra: { expires_in: grant.expiresIn } }, world.cipher);
      await age(world, [user], providerId);
      await handle.trigger();
      await until(() => tokenCalls(world, user) === 1, 60_000, 'the idle link refreshed by the scheduled sweep');
      expect((await handle.describe()).info.recentActions.length).toBe(1);
    } finally {
      await launched.stop();
      await handle.delete();
    }
  }, 120_000);
});

describe('keep-alive at scale', () => {
  const LINKS = 5_000;
  const DUE = 120;
  const BATCH = 50;
  let sweeper: Awaited<ReturnType<typeof startSweeper>>;
  beforeAll(async () => {
    sweeper = await startSweeper(bulk);
  });
  afterAll(async () => sweeper?.stop());

  it(`${LINKS} idle links, ${DUE} of them due: sweeps of at most ${BATCH} pick only the due ones, each refreshed once, the rest untouched`, async () => {
    const rssBefore = process.memoryUsage().rss;
    const users = Array.from({ length: LINKS }, (_, i) => `idle-${i}`);
    const seedStart = Date.now();
    for (let i = 0; i < LINKS; i += 250) {
      await Promise.all(users.slice(i, i + 250).map((user) => bulk.seedLink(user, { expiresInSeconds: -60 })));
    }
    const seedMs = Date.now() - seedStart;
    const dueUsers = users.filter((_, i) => i % Math.floor(LINKS / DUE) === 0).slice(0, DUE);
    await age(bulk, dueUsers);

    const queryStart = performance.now();
    const listed = await listKeepAliveDue(bulk.pool, keepAliveRules(providerOf(bulk)), KEEP_ALIVE_BATCH_SIZE);
    const queryMs = performance.now() - queryStart;
    expect(listed.length).toBe(DUE);

    const refreshed = async () =>
      Number((await bulk.pool.query(`SELECT count(*) FROM external_auth_links WHERE provider_id = $1 AND last_refreshed_at IS NOT NULL`, [bulk.providerId])).rows[0].count);
    const sweeps: Array<KeepAliveSweepResult & { historyEvents: number; ms: number }> = [];
    const refreshStart = Date.now();
    for (;;) {
      const started = Date.now();
      const sweep = await sweeper.sweep({ batchSize: BATCH });
      sweeps.push({ ...sweep, ms: Date.now() - started });
      expect(sweep.due).toBeLessThanOrEqual(BATCH);
      if (sweep.due === 0) break;
      expect(sweeps.length).toBeLessThanOrEqual(Math.ceil(DUE / BATCH) + 1);
      // An hour passes between sweeps in production; here, the next sweep waits until this one's refreshes are stored.
      const target = sweeps.reduce((n, s) => n + s.requested, 0);
      await until(async () => (await refreshed()) >= target, 60_000, `${target} links refreshed`);
    }
    const refreshMs = Date.now() - refreshStart;
    const rssAfter = process.memoryUsage().rss;

    expect(sweeps.map((s) => s.due)).toEqual([50, 50, 20, 0]);
    expect(await refreshed()).toBe(DUE);
    const calls = [...bulk.provider.stats.tokenCallsByFamily.entries()];
    expect(calls.length).toBe(DUE);
    expect(calls.every(([user, n]) => dueUsers.includes(user) && n === 1)).toBe(true);
    const openRuns = await bulk.temporal.workflow.count(`WorkflowType = 'linkWorkflow' AND TaskQueue = '${bulk.taskQueue}'`);
    expect(openRuns.count).toBe(DUE); // a run only for the links due, none for the other 4,880
    // Keep-alive is the only plan of these runs, and the sweep covers it: each finishes once idle (1 s here).
    const finishStart = Date.now();
    await until(async () => (await runningLinkRuns(bulk)) === 0, 60_000, 'every run the sweep opened finishing');
    const allFinishedMs = Date.now() - finishStart;
    const linkEvents = await Promise.all(
      dueUsers.slice(0, 10).map(async (user) => (await bulk.temporal.workflow.getHandle(linkWorkflowId(bulk.key(user))).describe()).historyLength),
    );
    const stillOpen = { count: await runningLinkRuns(bulk) };

    console.log(
      JSON.stringify({
        keepAliveFigures: {
          links: LINKS,
          due: DUE,
          batch: BATCH,
          seedMs,
          dueQueryMs: Math.round(queryMs),
          sweeps: sweeps.map(({ due, requested, historyEvents, ms }) => ({ due, requested, historyEvents, ms })),
          refreshAllDueMs: refreshMs,
          linkRunsStarted: openRuns.count,
          linkRunsStillOpen: stillOpen.count,
          allRunsFinishedMs: allFinishedMs,
          linkRunHistoryEvents: linkEvents,
          providerTokenCalls: calls.length,
          rssMiBBefore: Math.round(rssBefore / 2 ** 20),
          rssMiBAfter: Math.round(rssAfter / 2 ** 20),
          providerCallsPerDayAt30DayKeepAlive: Math.round((LINKS * 86_400) / (30 * 86_400)),
        },
      }),
    );
  }, 180_000);

  it('control: with the old plan (the run keeps its own keep-alive timer) the runs the sweep opened stay open after their refresh', async () => {
    const users = Array.from({ length: OLD_PLAN_DUE }, (_, i) => `old-plan-${i}`);
    await Promise.all(users.map((user) => oldPlan.seedLink(user, { expiresInSeconds: -60 })));
    await age(oldPlan, users);
    const sweeper = await startSweeper(oldPlan);
    try {
      expect((await sweeper.sweep()).requested).toBe(OLD_PLAN_DUE);
      await until(() => users.every((user) => tokenCalls(oldPlan, user) === 1), 60_000, 'every due link refreshed');
      await sleep(IDLE_FINISH_MS * 4); // four idle-finish periods: a run free to finish would have
      expect(await runningLinkRuns(oldPlan)).toBe(OLD_PLAN_DUE);
    } finally {
      await sweeper.stop();
    }
  }, 120_000);
});

/** Link runs of the world's task queue that are still open. */
async function runningLinkRuns(w: World): Promise<number> {
  return (await w.temporal.workflow.count(`WorkflowType = 'linkWorkflow' AND TaskQueue = '${w.taskQueue}' AND ExecutionStatus = 'Running'`)).count;
}
