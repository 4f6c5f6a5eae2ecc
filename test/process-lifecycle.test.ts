// `extauth dev` stops cleanly and leaves nothing behind: on SIGTERM and SIGINT (sent to it, or to `npm start`), on
// a signal during startup, when its parent dies; a second `extauth dev` on the same data dir names a live owner (and
// `extauth dev --stop` stops it) or recovers what a SIGKILLed one left. Every case runs the real command, with its own
// embedded Postgres and Temporal dev server, and finds leftovers by what they run on: any process whose arguments
// name the data dir (`postgres -D <dir>/postgres`, `temporal server start-dev --db-filename <dir>/temporal.db`).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { getFreePort } from '../dev/ports.js';
import { waitForTemporalHealth } from '../dev/temporal.js';
import { isRunning, listPids, processesNaming, readCommandLine, readProcStat, waitForExit } from '../dev/procs.js';
import { runCli } from './support/cli.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = join(ROOT, 'bin/extauth.js');
const READY_MS = 150_000;
const TEST_MS = 300_000;

interface Launched {
  child: ChildProcess;
  /** Pid of `extauth dev` (the child, or the grandchild when started through a parent). */
  devPid: number;
  output: () => string;
  exited: Promise<number | null>;
}

const dirs: string[] = [];
const started: ChildProcess[] = [];
afterEach(async () => {
  // Whatever a failed test left: the launched processes, then anything still running on its data dirs.
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) {
    for (const pid of await processesOn(dir)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'extauth-lifecycle-'));
  await chmod(dir, 0o755); // as root, Postgres runs as "postgres" and must enter it
  dirs.push(dir);
  return dir;
}

function devEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  const cli = inject('temporalCliPath') || process.env.TEMPORAL_CLI_PATH;
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    // Not the operator's own per-user dev.json (config/env.ts): every dev of this file publishes under the data dir.
    XDG_STATE_HOME: join(dir, 'state'),
    EXTAUTH_DATA_DIR: dir,
    ...(cli ? { TEMPORAL_CLI_PATH: cli } : {}),
    ...extra,
  };
}

/** Spawns `command`, collecting its output; `waitFor` resolves once the text was printed. */
function launch(command: string, args: string[], env: Record<string, string>): Launched & { waitFor(text: string, ms?: number): Promise<void> } {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waiters: { text: string; resolve: () => void }[] = [];
  const onData = (d: Buffer) => {
    output += d;
    for (const w of waiters.filter((w) => output.includes(w.text))) w.resolve();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return {
    child,
    devPid: child.pid!,
    output: () => output,
    exited,
    waitFor(text, ms = READY_MS) {
      if (output.includes(text)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`"${text}" not printed within ${ms} ms:\n${output}`)), ms);
        waiters.push({ text, resolve: () => (clearTimeout(timer), resolve()) });
        void exited.then((code) => reject(new Error(`exited (${code}) before "${text}":\n${output}`)));
      });
    },
  };
}

async function startDev(dir: string, extra: Record<string, string> = {}) {
  const dev = launch(process.execPath, [BIN, 'dev', '--demo'], devEnv(dir, extra));
  await dev.waitFor('extauth ready ');
  return dev;
}

async function processesOn(dir: string): Promise<number[]> {
  return (await processesNaming(dir)).map((found) => found.pid);
}

/** The postmaster and the Temporal dev server of a running dev on `dir`; fails unless both are there. */
async function servicesOf(dir: string): Promise<{ postgres: number; temporal: number }> {
  // Polled briefly: right after the ready line a loaded machine may not list both processes in /proc yet.
  let found: { postgres?: number; temporal?: number } = {};
  for (const deadline = Date.now() + SERVICES_LISTED_WITHIN_MS; Date.now() < deadline; await sleep(200)) {
    const pids = await processesOn(dir);
    const named = await Promise.all(pids.map(async (pid) => ({ pid, args: (await readCommandLine(pid)) ?? [] })));
    found = { postgres: named.find((p) => p.args.includes('-D'))?.pid, temporal: named.find((p) => p.args.includes('start-dev'))?.pid };
    if (found.postgres && found.temporal) break;
  }
  expect(found).toEqual({ postgres: expect.any(Number), temporal: expect.any(Number) });
  return { postgres: found.postgres!, temporal: found.temporal! };
}
const SERVICES_LISTED_WITHIN_MS = 15_000;

async function expectNothingLeft(dir: string, pids: number[]): Promise<void> {
  for (const pid of pids) expect(await isRunning(pid), `pid ${pid} still runs`).toBe(false);
  expect(await processesOn(dir)).toEqual([]);
  expect(existsSync(join(dir, 'dev.lock'))).toBe(false);
  expect(existsSync(join(dir, 'dev.json'))).toBe(false);
}

describe.sequential('extauth dev stops cleanly and leaves nothing behind', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s to extauth dev: exit 0 after stopping its Postgres and Temporal dev server; dev.lock and dev.json removed',
    async (signal) => {
      const dir = await dataDir();
      const dev = await startDev(dir);
      const services = await servicesOf(dir);
      // The lock names this process, readable by its owner only.
      expect(((await stat(join(dir, 'dev.lock'))).mode & 0o777).toString(8)).toBe('600');
      // The database password is in dev.json (0600), never in the ready line (control: dev.json does hold one).
      const { password } = new URL((JSON.parse(await readFile(join(dir, 'dev.json'), 'utf8')) as { databaseUrl: string }).databaseUrl);
      expect(password.length).toBeGreaterThan(8);
      expect(dev.output()).not.toContain(password);
      expect(dev.output()).toMatch(/extauth ready .*"databaseUrl":"postgres:\/\/[^:"]+:redacted@/);
      dev.child.kill(signal);
      // A second signal (Ctrl-C reaching the whole group, `timeout`, an impatient process manager) waits for the same stop.
      await sleep(200);
      dev.child.kill(signal);
      expect(await dev.exited, dev.output()).toBe(0);
      expect(dev.output()).toContain(`extauth: ${signal}, stopping`);
      expect(dev.output()).toContain('already stopping');
      await expectNothingLeft(dir, [dev.devPid, services.postgres, services.temporal]);
    },
    TEST_MS,
  );

  it(
    'SIGTERM during startup stops what has started (no orphaned Postgres) and exits 0',
    async () => {
      const dir = await dataDir();
      const dev = launch(process.execPath, [BIN, 'dev', '--demo'], devEnv(dir));
      await dev.waitFor('starting the Temporal dev server');
      const postgres = (await processesOn(dir))[0];
      expect(postgres).toEqual(expect.any(Number)); // Postgres runs already: the control of what must not be left
      dev.child.kill('SIGTERM');
      expect(await dev.exited, dev.output()).toBe(0);
      expect(dev.output()).toContain('SIGTERM during startup, stopping what has started');
      await expectNothingLeft(dir, [dev.devPid, postgres!]);
    },
    TEST_MS,
  );

  it(
    'npm start, then SIGTERM to npm (as `kill`, `timeout` and process managers send it): npm exits only once everything is stopped',
    async () => {
      const dir = await dataDir();
      const npm = launch('npm', ['start'], devEnv(dir, { npm_config_update_notifier: 'false' }));
      await npm.waitFor('extauth ready ');
      const services = await servicesOf(dir);
      const devPid = await childOf(npm.child.pid!, 'extauth.js');
      npm.child.kill('SIGTERM');
      await npm.exited;
      // Checked the moment npm is gone: with `sh -c node …` between them, npm used to exit at once and leave extauth dev running.
      await expectNothingLeft(dir, [devPid, services.postgres, services.temporal]);
      expect(npm.output()).toContain('extauth: stopped');
    },
    TEST_MS,
  );

  it(
    'control: the former `sh -c "node bin/extauth.js dev --demo"`, SIGTERM to sh: sh dies and extauth dev is orphaned; it notices its parent is gone and stops everything',
    async () => {
      const dir = await dataDir();
      const sh = launch('sh', ['-c', `node ${BIN} dev --demo`], devEnv(dir));
      await sh.waitFor('extauth ready ');
      const services = await servicesOf(dir);
      const devPid = await childOf(sh.child.pid!, 'extauth.js');
      sh.child.kill('SIGTERM');
      await sh.exited;
      // The orphan of the issue: sh died of the signal and passed nothing on.
      expect(await isRunning(devPid)).toBe(true);
      expect(await waitForExit(devPid, 60_000)).toBe(true);
      await expectNothingLeft(dir, [devPid, services.postgres, services.temporal]);
    },
    TEST_MS,
  );

  it(
    'its parent SIGKILLed: extauth dev notices (parent pid changes) and stops everything',
    async () => {
      const dir = await dataDir();
      const { parent, devPid } = await startDevUnderParent(dir);
      const services = await servicesOf(dir);
      parent.child.kill('SIGKILL');
      expect(await waitForExit(devPid, 60_000)).toBe(true);
      await expectNothingLeft(dir, [devPid, services.postgres, services.temporal]);
    },
    TEST_MS,
  );

  it(
    'control, EXTAUTH_DEV_EXIT_WITH_PARENT=0: it outlives its parent; a second extauth dev names it (pid, command) and exits 1; `extauth dev --stop` stops it',
    async () => {
      const dir = await dataDir();
      const { parent, devPid } = await startDevUnderParent(dir, { EXTAUTH_DEV_EXIT_WITH_PARENT: '0' });
      const services = await servicesOf(dir);
      parent.child.kill('SIGKILL');
      await sleep(4_000);
      expect(await isRunning(devPid)).toBe(true);

      const second = await runCli(['dev', '--demo'], devEnv(dir));
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`extauth dev is already running on ${dir}: pid ${devPid} (node ${BIN} dev --demo)`);
      expect(second.stderr).toContain('extauth dev --stop');
      expect(second.stderr).not.toContain('postmaster');
      expect(await isRunning(devPid)).toBe(true); // the refused start touched nothing of it

      const stopped = await runCli(['dev', '--stop'], devEnv(dir));
      expect(stopped.code).toBe(0);
      expect(stopped.stderr).toContain(`stopping extauth dev (pid ${devPid}`);
      expect(stopped.stderr).toContain(`extauth dev (pid ${devPid}) stopped`);
      await expectNothingLeft(dir, [devPid, services.postgres, services.temporal]);

      const again = await runCli(['dev', '--stop'], devEnv(dir));
      expect(again.code).toBe(0);
      expect(again.stderr).toContain('no extauth dev is running');
    },
    TEST_MS,
  );

  it(
    'a SIGKILLed extauth dev leaves Postgres, the Temporal dev server, dev.lock and dev.json; the next extauth dev recovers them and starts',
    async () => {
      const dir = await dataDir();
      const first = await startDev(dir);
      const services = await servicesOf(dir);
      first.child.kill('SIGKILL');
      await first.exited;
      await sleep(1_000);
      // The leftovers the issue met: the next start used to fail on the still-running postmaster. (The Temporal dev
      // server dies of SIGPIPE at its next log line once its reader is gone, or lives on: the next test covers that.)
      expect(await isRunning(services.postgres)).toBe(true);
      const temporalLeft = await isRunning(services.temporal);
      expect(existsSync(join(dir, 'dev.lock'))).toBe(true);
      expect(existsSync(join(dir, 'dev.json'))).toBe(true);

      const second = await startDev(dir);
      expect(second.output()).toContain(`the previous extauth dev on ${dir} (pid ${first.devPid}) is gone; recovering what it left`);
      expect(second.output()).toContain(`stopping the Postgres (pid ${services.postgres})`);
      if (temporalLeft) expect(second.output()).toContain(`stopping the Temporal dev server (pid ${services.temporal})`);
      expect(await isRunning(services.postgres)).toBe(false);
      expect(await isRunning(services.temporal)).toBe(false);
      const now = await servicesOf(dir);
      second.child.kill('SIGTERM');
      expect(await second.exited, second.output()).toBe(0);
      await expectNothingLeft(dir, [second.devPid, now.postgres, now.temporal]);
    },
    TEST_MS,
  );

  it(
    'a Temporal dev server left running on the data dir\'s temporal.db (orphaned, holding the file and its ports) is stopped by the next extauth dev',
    async () => {
      const dir = await dataDir();
      const cli = devEnv(dir).TEMPORAL_CLI_PATH ?? 'temporal';
      const db = join(dir, 'temporal.db');
      // Orphaned at once (its sh exits), output to /dev/null: it survives as a dev server killed mid-run would.
      const port = String(await getFreePort());
      const sh = spawn('sh', ['-c', `"$0" server start-dev --headless --ip 127.0.0.1 --port "$1" --db-filename "$2" >/dev/null 2>&1 &`, cli, port, db], { stdio: 'ignore' });
      await new Promise((resolve) => sh.once('exit', resolve));
      await waitForTemporalHealth(cli, `127.0.0.1:${port}`, 60_000);
      const [leftover, ...others] = await processesOn(dir);
      expect(others).toEqual([]);
      expect((await readProcStat(leftover!))?.ppid).not.toBe(process.pid);

      const dev = await startDev(dir);
      expect(dev.output()).toContain(`stopping the Temporal dev server (pid ${leftover}) a stopped extauth dev left running on ${dir}`);
      expect(await isRunning(leftover!)).toBe(false);
      const now = await servicesOf(dir);
      dev.child.kill('SIGTERM');
      expect(await dev.exited, dev.output()).toBe(0);
      await expectNothingLeft(dir, [dev.devPid, now.postgres, now.temporal]);
    },
    TEST_MS,
  );
});

/** `extauth dev` started by a throwaway node parent (so the test can kill that parent); its output reaches us through the parent's pipes. */
async function startDevUnderParent(dir: string, extra: Record<string, string> = {}) {
  const script = `const c = require('node:child_process').spawn(process.execPath, [${JSON.stringify(BIN)}, 'dev', '--demo'], { stdio: 'inherit' }); console.log('DEV_PID ' + c.pid); setInterval(() => {}, 1e9);`;
  const parent = launch(process.execPath, ['-e', script], devEnv(dir, extra));
  await parent.waitFor('extauth ready ');
  const devPid = Number(/DEV_PID (\d+)/.exec(parent.output())?.[1]);
  expect(devPid).toBeGreaterThan(0);
  return { parent, devPid };
}

/** The pid of the child of `parentPid` whose arguments include `text`. */
async function childOf(parentPid: number, text: string): Promise<number> {
  for (const pid of await listPids()) {
    const args = await readCommandLine(pid);
    if (!args?.some((a) => a.includes(text))) continue;
    if ((await readProcStat(pid))?.ppid === parentPid) return pid;
  }
  throw new Error(`no child of ${parentPid} runs ${text}`);
}
