// What each worker does, every minute, so that no link stays without a working run and no rotation stays only in
// an ended run's history:
// - stuck runs: a link run whose history no longer replays (an sdk-core bug: sdk-workarounds.ts, 2) retries its
//   workflow task forever; Temporal flags it (TemporalReportedProblems). It is terminated once no exchange is in
//   flight, and a new run is opened, which recovers any rotation the stuck run did not persist.
// - stranded exchanges: a link whose run ended between the provider's answer and persist is recovered by its next
//   run (loadLink); for a link nobody asks for, a run is opened, before Temporal's retention drops the history.
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { linkWorkflowId, parseLinkWorkflowId } from '../core/ids.js';
import type { LinkKey } from '../core/types.js';
import { listStrandedExchanges } from '../store/links.js';
import { UNREPLAYABLE_TASK_FAILURE_CAUSES } from '../sdk-workarounds.js';
import type { ExtauthClient } from '../client/index.js';

export interface RecoverySweepOptions {
  pool: Pool;
  temporal: Client;
  extauth: ExtauthClient;
  logger: Logger;
  /** The task queue this process's worker serves, and the providers configured for it. */
  taskQueue: string;
  providerIds: readonly string[];
  /** Default 60 s. */
  intervalMs?: number;
  /** An exchange marker younger than this belongs to a refresh still under way (default 120 s). */
  strandedAfterSeconds?: number;
}

/** Causes of a failing task that mean the run's history does not replay: ending the run is the only way out. */
const UNREPLAYABLE_CAUSES = UNREPLAYABLE_TASK_FAILURE_CAUSES;

/** Terminates flagged link runs whose history does not replay, and opens a new run for each. Returns how many. */
export async function endStuckRuns(options: RecoverySweepOptions): Promise<number> {
  const { temporal, logger } = options;
  const causes = UNREPLAYABLE_CAUSES.map((cause) => `'cause=${cause}'`).join(', ');
  const query = `WorkflowType = 'linkWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = '${options.taskQueue}' AND TemporalReportedProblems IN (${causes})`;
  let ended = 0;
  for await (const run of temporal.workflow.list({ query })) {
    const key = parseLinkWorkflowId(run.workflowId);
    if (!key) continue;
    const log = logger.child({ provider: key.providerId, link: key.userId, step: 'sweep', runId: run.runId });
    try {
      const handle = temporal.workflow.getHandle(run.workflowId, run.runId);
      const described = await handle.describe();
      // An exchange in flight: ending the run now would drop the provider's answer. Its completion is recorded even
      // though the run's tasks fail, and the new run recovers it from there; so wait for the next pass.
      if (described.raw.pendingActivities?.some((a) => a.activityType?.name === 'exchangeRefreshToken')) continue;
      const problems = described.searchAttributes.TemporalReportedProblems ?? [];
      await handle.terminate(`extauth recovery sweep: workflow task failing (${problems.join(', ')}); a new run takes over from the database row`);
      log.warn({ problems }, 'ended a link run whose history no longer replays; opening a new run');
      ended++;
      await openRun(options, key, log);
    } catch (err) {
      log.warn({ cause: (err as Error).message }, 'could not end a stuck link run; the next sweep tries again');
    }
  }
  return ended;
}

/** For each stranded exchange whose link has no open run, opens one (a `status` request), which recovers. */
export async function sweepStrandedExchanges(options: RecoverySweepOptions): Promise<number> {
  const { pool, temporal, logger } = options;
  let opened = 0;
  for (const stranded of await listStrandedExchanges(pool, options.providerIds, options.strandedAfterSeconds ?? 120)) {
    const log = logger.child({ provider: stranded.providerId, link: stranded.userId, step: 'sweep', fromRun: stranded.runId });
    try {
      if (await hasOpenRun(temporal, linkWorkflowId(stranded))) continue; // that run loads (and recovers) by itself
      await openRun(options, stranded, log);
      opened++;
      log.info('opened a run for a link whose last exchange was never written, to recover it');
    } catch (err) {
      log.warn({ cause: (err as Error).message }, 'could not open a run for a link whose last exchange was never written; the next sweep tries again');
    }
  }
  return opened;
}

/** A status request opens a run and makes it load the row (and recover a stranded rotation); its answer is not needed. */
async function openRun(options: RecoverySweepOptions, key: LinkKey, log: Logger): Promise<void> {
  try {
    await options.extauth.status({ provider: key.providerId, user: key.userId });
  } catch (err) {
    log.warn({ cause: (err as Error).message }, 'the new run could not load the link; the next request or sweep tries again');
  }
}

async function hasOpenRun(temporal: Client, workflowId: string): Promise<boolean> {
  try {
    return (await temporal.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** Both passes every `intervalMs` until stopped; a failed pass is logged, and a pass still running skips the next tick. */
export function startRecoverySweep(options: RecoverySweepOptions): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<unknown> | undefined;
  const pass = async () => {
    await endStuckRuns(options).catch((err) => options.logger.warn({ cause: (err as Error).message }, 'sweep for stuck link runs failed'));
    await sweepStrandedExchanges(options).catch((err) => options.logger.warn({ cause: (err as Error).message }, 'sweep for stranded exchanges failed'));
  };
  const timer = setInterval(() => {
    if (stopped || running) return;
    running = pass().finally(() => (running = undefined));
  }, options.intervalMs ?? 60_000);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
