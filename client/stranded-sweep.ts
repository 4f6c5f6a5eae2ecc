// Links whose run ended between the provider's answer and persist are recovered by their next run (loadLink). A
// link nobody asks for would wait for that run until Temporal's retention drops the history holding the rotated
// tokens; this sweep opens the run instead.
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { linkWorkflowId } from '../core/ids.js';
import { listStrandedExchanges } from '../store/links.js';
import type { ExtauthClient } from './index.js';

export interface StrandedSweepOptions {
  pool: Pool;
  temporal: Client;
  extauth: ExtauthClient;
  logger: Logger;
  /** The providers whose links this process serves (its worker's task queue). */
  providerIds: readonly string[];
  /** Default 60 s. */
  intervalMs?: number;
  /** An exchange marker younger than this belongs to a refresh still under way (default 120 s). */
  strandedAfterSeconds?: number;
}

/** One pass: for each stranded exchange whose link has no open run, open one (a `status` request), which recovers. */
export async function sweepStrandedExchanges(options: StrandedSweepOptions): Promise<number> {
  const { pool, temporal, extauth, logger } = options;
  let opened = 0;
  for (const stranded of await listStrandedExchanges(pool, options.providerIds, options.strandedAfterSeconds ?? 120)) {
    const log = logger.child({ provider: stranded.providerId, link: stranded.userId, step: 'sweep', fromRun: stranded.runId });
    try {
      if (await hasOpenRun(temporal, linkWorkflowId(stranded))) continue; // that run loads (and recovers) by itself
      await extauth.status({ provider: stranded.providerId, user: stranded.userId });
      opened++;
      log.info('opened a run for a link whose last exchange was never written, to recover it');
    } catch (err) {
      log.warn({ cause: (err as Error).message }, 'could not open a run for a link whose last exchange was never written; the next sweep tries again');
    }
  }
  return opened;
}

async function hasOpenRun(temporal: Client, workflowId: string): Promise<boolean> {
  try {
    return (await temporal.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** Sweeps every `intervalMs` until stopped; a pass that fails is logged, and a pass still running skips the next tick. */
export function startStrandedSweep(options: StrandedSweepOptions): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (stopped || running) return;
    running = sweepStrandedExchanges(options)
      .catch((err) => options.logger.warn({ cause: (err as Error).message }, 'sweep for stranded exchanges failed'))
      .finally(() => (running = undefined));
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
