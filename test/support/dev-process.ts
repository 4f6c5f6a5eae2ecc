// Runs `extauth dev` as a user would (a child process) and waits for its one "extauth ready {...}" line.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/extauth.js', import.meta.url));

export interface DevReady {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  uiUrl: string | null;
  databaseUrl: string;
}

export interface DevProcess {
  ready: DevReady;
  output: () => string;
  stop(): Promise<number | null>;
}

/** Where `extauth dev` processes of this test file publish their per-user dev.json (config/env.ts). */
export const TEST_STATE_HOME = mkdtempSync(join(tmpdir(), 'extauth-state-'));

export function startDevProcess(args: string[], env: Record<string, string>, timeoutMs = 120_000, cwd?: string): Promise<DevProcess> {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'dev', ...args], {
    cwd,
    // Its own per-user state folder: the dev.json it publishes there must not replace the operator's own.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', XDG_STATE_HOME: TEST_STATE_HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`extauth dev was not ready within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.stderr!.on('data', (d) => (output += d));
    child.stdout!.on('data', (d) => {
      output += d;
      const line = output.split('\n').find((l) => l.startsWith('extauth ready '));
      if (!line) return;
      clearTimeout(timer);
      resolve({
        ready: JSON.parse(line.slice('extauth ready '.length)) as DevReady,
        output: () => output,
        async stop() {
          child.kill('SIGINT');
          const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 30_000))]);
          if (code === null) child.kill('SIGKILL');
          return code;
        },
      });
    });
    child.on('exit', (code) => fail(new Error(`extauth dev exited (${code}) before it was ready:\n${output}`)));
  });
}
