import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, inject } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/extauth.js', import.meta.url));

/** CLI processes of this test file still running: a test that failed while one waited must not leave it behind. */
const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** Ends `child` with the test file if it is still running then. */
export function killWithFile<C extends ChildProcess>(child: C): C {
  running.add(child);
  child.on('exit', () => running.delete(child));
  return child;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `extauth` command as a user would, with only the environment given (plus PATH), in `cwd` if given.
 * `stdin`: text written to its standard input, then closed; without it stdin is not connected.
 */
export function runCli(args: string[], env: Record<string, string>, options: { cwd?: string; stdin?: string } = {}): Promise<CliResult> {
  const { stdin } = options;
  return new Promise((resolve, reject) => {
    const child = killWithFile(
      spawn(process.execPath, [BIN, ...args], {
        cwd: options.cwd,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
        stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      }),
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The environment an operator's shell would have: the run's Temporal, Postgres, payload and database keys, the world's task queue. */
export function cliEnv(taskQueue: string, dataDir: string): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    DATABASE_URL: inject('databaseUrl'),
    EXTAUTH_TASK_QUEUE: taskQueue,
    EXTAUTH_DATA_DIR: dataDir,
    EXTAUTH_CODEC_KEY: inject('codecKey'),
    EXTAUTH_DB_KEY: inject('dbKey'),
  };
}
