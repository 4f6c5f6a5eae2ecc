// The cluster's child processes: each writes to a 0600 log file of its own, runs in its own process group, is watched
// for an early exit, and stops with SIGTERM (SIGKILL after a grace period). Kept apart so that tests and the smoke can kill or restart one.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { PRIVATE_FILE_MODE } from '../../core/private-files.js';
import { stopProcess } from '../procs.js';

const LOG_TAIL_LINES = 30;

export class ClusterChild {
  private child: ChildProcess;
  private exited: Promise<void>;
  exitCode: number | null | undefined = undefined;

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
    readonly logFile: string,
  ) {
    ({ child: this.child, exited: this.exited } = this.spawn());
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  private spawn(): { child: ChildProcess; exited: Promise<void> } {
    const fd = openSync(this.logFile, 'a', PRIVATE_FILE_MODE);
    try {
      this.exitCode = undefined;
      // A process group of its own: a terminal's Ctrl-C reaches the launcher only, which stops its children in order
      // (workers drain while Temporal and Postgres still answer) instead of all of them at once.
      const child = spawn(this.command, this.args, { env: this.env, stdio: ['ignore', fd, fd], detached: true });
      // Should the launcher exit without stopping it (a crash), the child must not outlive it.
      const killOnExit = () => void child.kill('SIGTERM');
      process.on('exit', killOnExit);
      const exited = new Promise<void>((resolve) => {
        child.once('exit', (code) => {
          process.off('exit', killOnExit);
          this.exitCode = code;
          resolve();
        });
        child.once('error', () => {
          this.exitCode = -1;
          resolve();
        });
      });
      return { child, exited };
    } finally {
      closeSync(fd);
    }
  }

  /** The last lines of its log, for error messages (the services log at warn level: no secrets, no tokens). */
  logTail(): string {
    try {
      // Lines cut short: the Go services log whole stack traces.
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-LOG_TAIL_LINES).map((l) => l.slice(0, 400)).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Resolves when `ready()` says so; fails with the log's tail if the process exits first or time runs out. */
  async waitUntil(ready: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited (code ${this.exitCode}) before ${what}; log ${this.logFile}:\n${this.logTail()}`);
      if (await ready()) return;
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${what} within ${timeoutMs / 1000} s; log ${this.logFile}:\n${this.logTail()}`);
      await sleep(200);
    }
  }

  /** Resolves with the exit code. */
  async waitForExit(): Promise<number | null | undefined> {
    await this.exited;
    return this.exitCode;
  }

  async stop(graceMs: number): Promise<void> {
    if (!this.running) return;
    await stopProcess(this.pid, 'SIGTERM', graceMs);
    await this.exited;
  }

  /** SIGKILL, as a crash or an OOM kill would. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Stops (SIGTERM) and starts the same command again, with the same log file. */
  async restart(graceMs: number): Promise<void> {
    await this.stop(graceMs);
    ({ child: this.child, exited: this.exited } = this.spawn());
  }
}
