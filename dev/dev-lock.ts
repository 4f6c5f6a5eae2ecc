// One `extauth dev` per data dir. `<dataDir>/dev.lock` (0600) names the process that owns it: its pid, the start
// time of that pid (so that a pid reused after a crash or a container restart is not mistaken for the owner), and
// its command line. A second `extauth dev` finds the owner alive and says who it is and how to stop it, or finds it
// dead and recovers what it left: its Postgres and Temporal dev server still running on this data dir, a stale
// dev.json, the stale lock. `extauth dev --stop` stops the owner cleanly and waits for it.
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ConfigError } from '../config/env.js';
import { isRunning, listPids, readCommandLine, readProcStat, stopProcess, waitForExit } from './procs.js';

export const DEV_LOCK_FILE = 'dev.lock';
const LEFTOVER_STOP_MS = 15_000;
const DEFAULT_STOP_WAIT_MS = 90_000;

interface DevOwner {
  pid: number;
  /** /proc starttime of pid; undefined where there is no /proc. */
  startTime?: number;
  command: string;
  startedAt: string;
}

export interface DevDataDirClaim {
  lockFile: string;
  /** Removes the lock if it is still this process's. */
  release(): void;
}

type Say = (msg: string) => void;

/**
 * Makes this process the owner of `dataDir`, recovering a dead owner's leftovers first. Throws ConfigError (exit 1)
 * naming the live owner when there is one. `staleFiles`: files a dead owner leaves that describe endpoints that no
 * longer exist (dev.json).
 */
export async function claimDevDataDir(dataDir: string, options: { say: Say; staleFiles?: string[] }): Promise<DevDataDirClaim> {
  const lockFile = join(dataDir, DEV_LOCK_FILE);
  const mine = JSON.stringify(await describeSelf());
  for (let attempt = 0; attempt < 5; attempt++) {
    // Written whole under a temporary name, then linked: link(2) fails if the lock exists, and nobody ever reads half a lock.
    const pending = `${lockFile}.${process.pid}.tmp`;
    writeFileSync(pending, mine, { mode: 0o600 });
    try {
      linkSync(pending, lockFile);
      await recoverLeftovers(dataDir, options.say); // an owner from before dev.lock existed, or a deleted lock
      return { lockFile, release: () => releaseIfMine(lockFile, mine) };
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    } finally {
      rmSync(pending, { force: true });
    }
    const found = readLock(lockFile);
    if (found && (await isOwnerAlive(found.owner))) throw alreadyRunning(dataDir, found.owner);
    if (found) options.say(`extauth: the previous extauth dev on ${dataDir} (pid ${found.owner.pid}) is gone; recovering what it left`);
    await recoverLeftovers(dataDir, options.say);
    for (const file of options.staleFiles ?? []) rmSync(file, { force: true });
    // Only the lock that was read: another starter may have recovered and claimed it meanwhile.
    if (found === undefined || readLock(lockFile)?.text === found.text) rmSync(lockFile, { force: true });
  }
  throw new ConfigError(`could not claim ${lockFile}: other extauth dev processes keep starting on ${dataDir}`);
}

/**
 * `extauth dev --stop`: SIGTERM to the live owner of `dataDir`, then waits for it to exit (its own shutdown stops
 * its worker, Temporal dev server and Postgres). Leftovers of a dead owner are stopped too. Returns the exit code.
 */
export async function stopDevOwner(dataDir: string, options: { say: Say; staleFiles?: string[]; waitMs?: number }): Promise<number> {
  const lockFile = join(dataDir, DEV_LOCK_FILE);
  const found = readLock(lockFile);
  if (found && (await isOwnerAlive(found.owner))) {
    const { pid, command } = found.owner;
    const waitMs = options.waitMs ?? DEFAULT_STOP_WAIT_MS;
    options.say(`extauth: stopping extauth dev (pid ${pid}: ${command}) on ${dataDir}`);
    process.kill(pid, 'SIGTERM');
    if (!(await waitForExit(pid, waitMs, 200))) {
      options.say(
        `extauth: extauth dev (pid ${pid}) still runs ${Math.round(waitMs / 1000)} s after SIGTERM; ` +
          `if it is stuck, \`kill -KILL ${pid}\`: the next \`extauth dev\` (or \`extauth dev --stop\`) stops what it leaves`,
      );
      return 1;
    }
    options.say(`extauth: extauth dev (pid ${pid}) stopped`);
  } else {
    options.say(`extauth: no extauth dev is running on ${dataDir}`);
  }
  const left = await recoverLeftovers(dataDir, options.say);
  if (!found || !(await isOwnerAlive(found.owner))) {
    if (found || left > 0) for (const file of options.staleFiles ?? []) rmSync(file, { force: true });
    if (found && readLock(lockFile)?.text === found.text) rmSync(lockFile, { force: true });
  }
  return 0;
}

function alreadyRunning(dataDir: string, owner: DevOwner): ConfigError {
  return new ConfigError(
    `extauth dev is already running on ${dataDir}: pid ${owner.pid} (${owner.command}), started ${owner.startedAt}. ` +
      `Stop it with \`extauth dev --stop\` (same EXTAUTH_DATA_DIR) or \`kill ${owner.pid}\`, ` +
      'or start this one with another EXTAUTH_DATA_DIR',
  );
}

async function describeSelf(): Promise<DevOwner> {
  const startTime = (await readProcStat(process.pid))?.startTime;
  const [node, ...args] = process.argv;
  return {
    pid: process.pid,
    ...(startTime === undefined ? {} : { startTime }),
    command: [basename(node ?? 'node'), ...args].join(' '),
    startedAt: new Date().toISOString(),
  };
}

function readLock(lockFile: string): { owner: DevOwner; text: string } | undefined {
  let text: string;
  try {
    text = readFileSync(lockFile, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const owner = JSON.parse(text) as DevOwner;
    if (Number.isInteger(owner.pid) && owner.pid > 0) return { owner, text };
  } catch {
    // unreadable: treated as a dead owner's
  }
  return { owner: { pid: 0, command: 'unknown', startedAt: 'unknown' }, text };
}

async function isOwnerAlive(owner: DevOwner): Promise<boolean> {
  if (owner.pid <= 0 || owner.pid === process.pid || !(await isRunning(owner.pid))) return false;
  if (owner.startTime === undefined) return true;
  const now = await readProcStat(owner.pid);
  return now === undefined || now.startTime === owner.startTime;
}

function releaseIfMine(lockFile: string, mine: string): void {
  try {
    if (readFileSync(lockFile, 'utf8') === mine) rmSync(lockFile, { force: true });
  } catch {
    // already gone
  }
}

/**
 * Stops processes still running on `dataDir` whose `extauth dev` is gone: the postmaster (`postgres -D
 * <dataDir>/postgres`, fast shutdown) and the Temporal dev server (`--db-filename <dataDir>/temporal.db`, which
 * holds the SQLite file and the ports). A process whose parent is still an extauth process is not a leftover.
 * Returns how many it stopped.
 */
async function recoverLeftovers(dataDir: string, say: Say): Promise<number> {
  const postgresDir = resolve(dataDir, 'postgres');
  const temporalDb = resolve(dataDir, 'temporal.db');
  let stopped = 0;
  for (const pid of await listPids()) {
    if (pid === process.pid) continue;
    const args = await readCommandLine(pid);
    if (!args || args.length === 0) continue;
    const kind = isPostmasterOf(args, postgresDir) ? 'Postgres' : isTemporalDevServerOf(args, temporalDb) ? 'Temporal dev server' : undefined;
    if (!kind) continue;
    const proc = await readProcStat(pid);
    if (!proc || proc.state === 'Z' || (await hasExtauthParent(proc.ppid))) continue;
    say(`extauth: stopping the ${kind} (pid ${pid}) a stopped extauth dev left running on ${dataDir}`);
    // Postgres: SIGINT is its "fast" shutdown (SIGTERM would wait for clients); the dev server stops on SIGTERM.
    await stopProcess(pid, kind === 'Postgres' ? 'SIGINT' : 'SIGTERM', LEFTOVER_STOP_MS);
    stopped++;
  }
  return stopped;
}

function isPostmasterOf(args: string[], postgresDir: string): boolean {
  const d = args.indexOf('-D');
  return basename(args[0] ?? '') === 'postgres' && d >= 0 && resolve(args[d + 1] ?? '') === postgresDir;
}

function isTemporalDevServerOf(args: string[], temporalDb: string): boolean {
  const db = args.indexOf('--db-filename');
  return args.includes('start-dev') && db >= 0 && resolve(args[db + 1] ?? '') === temporalDb;
}

async function hasExtauthParent(ppid: number): Promise<boolean> {
  if (ppid <= 1) return false;
  const parent = await readCommandLine(ppid);
  return parent?.some((arg) => /extauth/.test(basename(arg)) || arg.endsWith('extauth.js')) ?? false;
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}
