// How every long-running extauth process learns that it must stop: SIGINT, SIGTERM, or a reason of its own
// (its parent exited, its worker stopped). One stop, whatever arrives and however often.
//
// The handlers stay installed until the process exits. A second signal is common (a terminal's Ctrl-C reaches the
// whole process group, `timeout` signals the child and then the group, a process manager repeats itself), and with
// no listener left Node would die of it on the spot: the Temporal Runtime removes its own signal hooks after the
// first one, and `process.once` does the same. Dying mid-stop would orphan child processes and lose the answers of
// in-flight activities, so a repeated signal is only acknowledged.

export class StopRequested extends Error {
  constructor(readonly reason: string) {
    super(`stop requested (${reason})`);
    this.name = 'StopRequested';
  }
}

export interface StopRequests {
  /** Resolves with the first reason a stop was asked for (e.g. "SIGTERM"). */
  readonly requested: Promise<string>;
  /** The first reason, once a stop was asked for. */
  readonly reason: string | undefined;
  request(reason: string): void;
  /** Throws StopRequested if a stop was asked for: startup steps call it, so that a signal during startup stops what has started. */
  throwIfRequested(): void;
  /** Calls `fn` once, with the reason, when a stop is asked for (at once if it already was). */
  onStop(fn: (reason: string) => void): void;
}

export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** Installs the SIGINT/SIGTERM handlers of this process; `say` acknowledges a repeated signal. */
export function listenForStop(say: (msg: string) => void): StopRequests {
  let reason: string | undefined;
  let resolveRequested!: (reason: string) => void;
  const requested = new Promise<string>((resolve) => (resolveRequested = resolve));
  const listeners: ((reason: string) => void)[] = [];

  const request = (why: string): void => {
    if (reason !== undefined) return;
    reason = why;
    resolveRequested(why);
    for (const fn of listeners.splice(0)) fn(why);
  };
  for (const signal of STOP_SIGNALS) {
    process.on(signal, () => {
      if (reason === undefined) return request(signal);
      say(`extauth: ${signal} again: already stopping (${reason}), cleanly; pid ${process.pid} exits once everything it started has stopped`);
    });
  }
  return {
    requested,
    get reason() {
      return reason;
    },
    request,
    throwIfRequested() {
      if (reason !== undefined) throw new StopRequested(reason);
    },
    onStop(fn) {
      if (reason !== undefined) fn(reason);
      else listeners.push(fn);
    },
  };
}
