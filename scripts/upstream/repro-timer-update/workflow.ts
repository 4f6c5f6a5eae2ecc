// A tiny workflow for the timer + update repro: a loop of timers whose continuation emits commands, and an update
// handler `ping`. No extauth code.
import * as wf from '@temporalio/workflow';
import type * as activities from './activities.js';

export interface ReproInput {
  timerMs: number;
  iterations: number;
  /** What the timer's continuation does, in order: 'upsert' (search attribute), 'memo', 'activity', 'local'. */
  onTimer: Array<'upsert' | 'memo' | 'activity' | 'local'>;
  /** What the update handler awaits before returning. */
  inUpdate: 'none' | 'activity' | 'local' | 'sleep';
  /** Register a (synchronous) validator for `ping`. */
  validator?: boolean;
}

export const pingUpdate = wf.defineUpdate<string, [string]>('ping');

const acts = wf.proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });
const locals = wf.proxyLocalActivities<typeof activities>({ startToCloseTimeout: '10s' });

export async function timerUpdateRepro(input: ReproInput): Promise<number> {
  let pings = 0;
  wf.setHandler(pingUpdate, async (who: string) => {
    pings++;
    if (input.inUpdate === 'activity') await acts.noop(`update ${who}`);
    else if (input.inUpdate === 'local') await locals.noop(`update ${who}`);
    else if (input.inUpdate === 'sleep') await wf.sleep(100);
    return `pong ${who} #${pings}`;
  }, input.validator ? { validator: (who: string) => { if (!who) throw new RangeError('empty'); } } : {});
  for (let i = 0; i < input.iterations; i++) {
    await wf.condition(() => false, input.timerMs); // the timer
    for (const step of input.onTimer) {
      if (step === 'upsert') wf.upsertSearchAttributes({ ReproState: [`tick-${i}`] });
      else if (step === 'memo') wf.upsertMemo({ tick: i });
      else if (step === 'activity') await acts.noop(`tick ${i}`);
      else if (step === 'local') await locals.noop(`tick ${i}`);
    }
  }
  return pings;
}
