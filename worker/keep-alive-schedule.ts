// The one Temporal Schedule behind keep-alive: every KEEP_ALIVE_INTERVAL it starts keepAliveWorkflow on the workers'
// task queue, which asks the runs of the links due to refresh (activities/keep-alive.ts). Every worker ensures it at
// start, like the search attributes; the schedule itself is durable, so no process has to stay up for it.
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { keepAliveWorkflow } from '../workflows/keep-alive.js';

/** How often idle links are looked at. Far below any keepAliveSeconds worth setting (days), so a link is at most this late. */
export const KEEP_ALIVE_INTERVAL = '1 hour';
/** A sweep still running after this is ended; the next one starts over from the database. */
const SWEEP_RUN_TIMEOUT = '30 minutes';

/** One schedule per task queue: a task queue's workers serve its providers, and the sweep covers exactly those. */
export function keepAliveScheduleId(taskQueue: string): string {
  return `extauth-keep-alive-${taskQueue}`;
}

/** Creates the schedule unless it exists (then it is left as it is). Returns true when this call created it. */
export async function ensureKeepAliveSchedule(temporal: Client, taskQueue: string, logger?: Logger): Promise<boolean> {
  const scheduleId = keepAliveScheduleId(taskQueue);
  try {
    await temporal.schedule.create<typeof keepAliveWorkflow>({
      scheduleId,
      spec: { intervals: [{ every: KEEP_ALIVE_INTERVAL }] },
      action: { type: 'startWorkflow', workflowType: 'keepAliveWorkflow', taskQueue, workflowId: scheduleId, args: [], workflowRunTimeout: SWEEP_RUN_TIMEOUT },
      // A sweep still running means the last one is not done with its batch: the next adds nothing but load.
      // After an outage, one catch-up sweep is enough: each reads what is due now.
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: KEEP_ALIVE_INTERVAL },
    });
    logger?.info({ scheduleId, taskQueue, every: KEEP_ALIVE_INTERVAL }, 'created the keep-alive schedule');
    return true;
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) return false; // another worker (or an earlier start) created it
    throw err;
  }
}
