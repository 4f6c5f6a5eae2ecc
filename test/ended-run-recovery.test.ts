// A run that ends after the provider answered its exchange and before persist wrote the answer (terminated by an
// operator here; failed on a nondeterminism error in production) leaves the rotated tokens only in its history.
// The next run of the link recovers them from there instead of exchanging the dead refresh token.
import type { PoolClient } from 'pg';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { sweepStrandedExchanges } from '../worker/recovery-sweep.js';
import { linkWorkflowId } from '../core/ids.js';
import { listStrandedExchanges } from '../store/links.js';
import { until } from './support/helpers.js';
import { logLines, uniqueUser, useWorld } from './support/world.js';

const world = useWorld({ provider: { latencyMs: { token: 500 } } });

let locker: PoolClient | undefined;
afterEach(async () => {
  await locker?.query('ROLLBACK').catch(() => undefined);
  locker?.release();
  locker = undefined;
});

/** The backend whose statement (`writes`: a fragment of its SQL) waits for the row lock `lockerPid` holds. */
async function blockedBy(lockerPid: number, writes: string): Promise<number | undefined> {
  const { rows } = await world.pool.query('SELECT pid, query FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [lockerPid]);
  if (rows.length > 1) throw new Error(`${rows.length} statements wait for the test's lock, expected one`);
  return rows[0]?.query.includes(writes) ? rows[0].pid : undefined;
}

/** The exchange's journal write (the answer on the row) and persist's write of the rotated tokens. */
const JOURNAL_WRITE = 'SET pending_rotation = $4';
const PERSIST_WRITE = 'oauth_access_token = $4';

/**
 * A refresh whose run ends after Temporal recorded the provider's answer and before persist wrote it, with no journal
 * on the row (its write refused, as when Postgres fails it): the journal's write and then persist are held on a row
 * lock; the first is cancelled (the exchange returns its answer to Temporal only), the run is terminated while persist
 * waits, and persist's statement cancelled (the server retries nothing for a closed run).
 */
async function strandRotation(user: string): Promise<{ endedRunId: string; rotated: string }> {
  const handle = world.temporal.workflow.getHandle(linkWorkflowId(world.key(user)));
  // A refresh nobody waits on (signal-with-start), so no agent retries into a new run while the test holds the row.
  await world.client.requestRefresh({ provider: world.providerId, user });
  const { runId: endedRunId } = await handle.describe();
  // The exchange marked the row (committed) and is waiting on the provider: lock the row so that persist blocks.
  await until(async () => (await world.row(user)).exchangeUnansweredAt !== null, 10_000, 'the exchange to be sent');
  locker = await world.pool.connect();
  await locker.query('BEGIN');
  await locker.query('SELECT 1 FROM external_auth_links WHERE provider_id = $1 AND user_id = $2 FOR UPDATE', [world.providerId, user]);
  const lockerPid: number = (await locker.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  let pid: number | undefined;
  await until(async () => (pid = await blockedBy(lockerPid, JOURNAL_WRITE)) !== undefined, 15_000, 'the journal write to wait for the row');
  await world.pool.query('SELECT pg_cancel_backend($1)', [pid]);
  await until(async () => (pid = await blockedBy(lockerPid, PERSIST_WRITE)) !== undefined, 15_000, 'persist to wait for the row');

  const rotated = world.provider.liveRefreshToken(user)!; // the provider rotated: the stored refresh token is dead
  await handle.terminate('test: the run ends between the exchange and persist');
  await world.pool.query('SELECT pg_cancel_backend($1)', [pid]);
  await locker.query('ROLLBACK');
  locker.release();
  locker = undefined;
  return { endedRunId, rotated };
}

const recoveredCount = async () => (await world.metrics.recoveredRotations.get()).values.find((v) => v.labels.provider === world.providerId)?.value ?? 0;

describe('rotated tokens of a run that ended before persisting them', () => {
  it('are recovered from its history by the next run: the agent gets them, with no second exchange and no re-authentication', async () => {
    const user = uniqueUser('ended');
    await world.seedLink(user, { expiresInSeconds: -60 });
    const before = await world.row(user);
    const handle = world.temporal.workflow.getHandle(linkWorkflowId(world.key(user)));
    const { endedRunId, rotated } = await strandRotation(user);
    expect(rotated).not.toBe(before.refreshToken);

    const stranded = await world.row(user);
    expect(stranded.refreshToken).toBe(before.refreshToken); // what the database would keep without recovery: a dead token
    expect(stranded.exchangeRunId).toBe(endedRunId);
    expect(stranded.exchangeUnansweredAt).not.toBeNull();
    expect(stranded.pendingRotation).toBeNull(); // no journal: only the ended run's history holds the answer
    const exchangesBefore = world.provider.stats.tokenCallsByFamily.get(user) ?? 0;
    const recoveredBefore = await recoveredCount();

    const grant = await world.client.getToken({ provider: world.providerId, user });

    const row = await world.row(user);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user)); // the provider's live token is the stored one
    expect(row.refreshToken).toBe(rotated);
    expect(row.failureReason).toBe('');
    expect(row.exchangeUnansweredAt).toBeNull();
    expect(row.tokenVersion).toBe(before.tokenVersion + 1);
    expect(grant.accessToken).toBe(row.accessToken);
    expect(world.provider.isAccessTokenValid(grant.accessToken)).toBe(true);
    expect(world.provider.stats.tokenCallsByFamily.get(user) ?? 0).toBe(exchangesBefore); // served from the recovered answer
    expect(world.provider.stats.trippedFamilies.has(user)).toBe(false);
    expect(await recoveredCount()).toBe(recoveredBefore + 1);
    const logged = logLines.filter((line) => line.includes('recovered rotated tokens') && line.includes(user));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain(endedRunId);
    expect((await handle.describe()).runId).not.toBe(endedRunId);
  }, 60_000);

  it('a run that ended with its exchange unanswered leaves nothing to recover: the next run exchanges as before', async () => {
    const user = uniqueUser('ended-unanswered');
    await world.seedLink(user, { expiresInSeconds: -60 });
    const handle = world.temporal.workflow.getHandle(linkWorkflowId(world.key(user)));
    // The provider hangs: the exchange is sent, and the run ends before any answer.
    world.provider.scriptFaults('token', user, [{ kind: 'hang', ms: 4_000 }]);
    await world.client.requestRefresh({ provider: world.providerId, user });
    const { runId: endedRunId } = await handle.describe();
    await until(async () => (await world.row(user)).exchangeUnansweredAt !== null, 10_000, 'the exchange to be sent');
    await handle.terminate('test: the run ends while its exchange waits for the provider');

    const grant = await world.client.getToken({ provider: world.providerId, user });

    const row = await world.row(user);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
    expect(grant.accessToken).toBe(row.accessToken);
    expect(row.failureReason).toBe('');
    const looked = logLines.filter((line) => line.includes('recorded no answer to it') && line.includes(user));
    expect(looked).toHaveLength(1);
    expect(looked[0]).toContain(endedRunId);
  }, 60_000);
  it('of a link nobody asks for are recovered by the sweep, which opens a run for it', async () => {
    const user = uniqueUser('ended-idle');
    await world.seedLink(user, { expiresInSeconds: -60 });
    const { rotated } = await strandRotation(user);
    const recoveredBefore = await recoveredCount();
    const sweep = { pool: world.pool, temporal: world.temporal, extauth: world.client, logger: pino({ level: 'silent' }), taskQueue: world.taskQueue, providerIds: [world.providerId], strandedAfterSeconds: 0 };

    expect(await sweepStrandedExchanges(sweep)).toBe(1);

    const row = await world.row(user);
    expect(row.refreshToken).toBe(rotated);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
    expect(row.exchangeRunId).toBeNull();
    expect(await recoveredCount()).toBe(recoveredBefore + 1);
    // Nothing left for the next pass: the link no longer has a stranded exchange.
    expect((await listStrandedExchanges(world.pool, [world.providerId], 0)).some((s) => s.userId === user)).toBe(false);
  }, 60_000);
});
