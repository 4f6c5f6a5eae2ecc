// The workflow bundle of `extauth worker`, built in a short-lived child process: bundling in the worker itself
// leaves webpack's modules and heap in the worker for its whole life (about 80 MB of RSS, docs/performance.md
// "Worker memory, measured"); a child returns that memory to the system when it exits.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./bundle-child.ts', import.meta.url));
/** The checkout: the child runs there so that `--import tsx` resolves extauth's own tsx, whatever the worker's cwd. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Only what node, tsx and webpack need: the worker's keys and database URL stay in the worker. */
const PASSED_ENV = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'MALLOC_ARENA_MAX'] as const;

/** The bundler child's environment: PASSED_ENV from `env`, nothing else. */
export function bundlerEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(PASSED_ENV.flatMap((k) => (env[k] === undefined ? [] : [[k, env[k]!]])));
}

/** The link workflows' bundle (worker.ts bundleLinkWorkflows), built in a child process that exits afterwards. */
export function bundleWorkflowsInChild(): Promise<string> {
  const env = bundlerEnv(process.env);
  const child = fork(CHILD, [], { cwd: ROOT, execArgv: ['--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2_000)));
  return new Promise((resolve, reject) => {
    let code: string | undefined;
    child.once('message', (m: { code?: string }) => (code = m.code));
    child.once('error', (err) => reject(new Error(`cannot start the workflow bundler (${err.message}); check that node can run ${CHILD}`)));
    child.once('exit', (status, signal) => {
      if (status === 0 && code) resolve(code);
      else reject(new Error(`bundling the workflows failed (exit ${signal ?? status}): ${stderr.trim() || 'no output'}`));
    });
  });
}
