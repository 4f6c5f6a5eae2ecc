// Started by the keep-alive schedule (worker/keep-alive-schedule.ts) every interval: one activity picks the links due
// for a keep-alive refresh and asks their runs to refresh. A few history events per sweep, whatever the number of links.
import { proxyActivities } from '@temporalio/workflow';
import type { ExtauthActivities } from '../activities/index.js';
import type { KeepAliveSweepInput, KeepAliveSweepResult } from '../activities/keep-alive.js';

const { keepAliveSweep } = proxyActivities<ExtauthActivities>({
  // 500 signal-with-starts, 8 at a time, take seconds; a database or Temporal outage is retried, then the next sweep tries.
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '10 seconds', maximumInterval: '2 minutes', maximumAttempts: 5 },
});

export async function keepAliveWorkflow(input: KeepAliveSweepInput = {}): Promise<KeepAliveSweepResult> {
  return keepAliveSweep(input);
}
