// The lifecycle of `npm run cluster`, apart from what it starts: start, print one ready line, run until SIGTERM/SIGINT
// (to it, or to npm, which forwards them) or until its parent dies (dev/parent-watch.ts, as `extauth dev`), then stop
// everything it started and exit 0. A stop asked for during startup stops what had started. The children run in
// process groups of their own (dev/cluster/children.ts), so a terminal's Ctrl-C reaches only this process, which stops
// them in order: workers drain while Temporal and Postgres still answer.
import { listenForStop, StopRequested } from '../../config/stop-signals.js';
import { exitsWithParent, watchParent } from '../parent-watch.js';

export interface Started {
  /** Printed on stdout once everything is up: `extauth ready {…}`. */
  readyLine: string;
  /** One line on stderr after the ready line. */
  summary: string;
  stop(): Promise<void>;
}

/** Resolves with the exit code: 0 after a requested stop, 1 when startup failed. */
export async function runUntilStopped(
  name: string,
  start: (checkStop: () => void) => Promise<Started>,
  say: (msg: string) => void,
): Promise<number> {
  const stop = listenForStop(say);
  if (exitsWithParent()) watchParent(stop.request);
  let started: Started;
  try {
    started = await start(() => stop.throwIfRequested());
  } catch (err) {
    if (err instanceof StopRequested) {
      say(`${name}: ${err.reason} during startup; stopped what had started`);
      return 0;
    }
    say(`${name}: ${(err as Error).message}`);
    return 1;
  }
  console.log(started.readyLine);
  say(started.summary);
  const reason = await stop.requested;
  say(`${name}: ${reason}, stopping`);
  await started.stop();
  say(`${name}: stopped`);
  return 0;
}
