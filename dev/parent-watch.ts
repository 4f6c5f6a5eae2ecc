// `extauth dev` stops when the process that started it goes away (a killed `npm start`, a closed terminal's shell,
// a test runner that crashed), instead of living on as an orphan with its Postgres and Temporal dev server.
//
// Linux's PR_SET_PDEATHSIG is not reachable from Node without a native module, and a pipe from the parent only
// exists when the parent made one (a terminal gives a tty, a supervisor often /dev/null). What works for every
// parent on Linux and macOS: an orphan is re-parented (to init or a subreaper), so its parent pid changes.
// process.ppid is read afresh on each access (uv_os_getppid), so polling it once a second costs nothing.

const POLL_MS = 1_000;

/** Calls `onParentExit` once when this process's parent changes; returns a function that stops watching. */
export function watchParent(onParentExit: (reason: string) => void, pollMs = POLL_MS): () => void {
  const parent = process.ppid;
  // Started by init itself (a container's entrypoint, or the parent was already gone): there is nothing to outlive.
  if (parent <= 1) return () => undefined;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onParentExit(`its parent process ${parent} exited`);
  }, pollMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** EXTAUTH_DEV_EXIT_WITH_PARENT=0 keeps `extauth dev` running after its parent exits (run detached; stop it with `extauth dev --stop`). */
export function exitsWithParent(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.EXTAUTH_DEV_EXIT_WITH_PARENT?.trim() !== '0';
}
