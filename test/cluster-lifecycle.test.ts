// `npm run cluster` stops cleanly and leaves nothing behind: on SIGTERM to it, on a terminal's Ctrl-C (SIGINT to its
// whole process group), and when its parent dies. The real cluster needs the Go build of Temporal Server (minutes), so
// this runs the launcher's own lifecycle (dev/cluster/run-until-stopped.ts) and child handling (dev/cluster/children.ts)
// with cheap children (test/support/cluster-launcher-fixture.ts); docs/deployment.md has the real cluster's check.
// Leftovers are found by what they run on: any process whose arguments name the test's folder.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isRunning, processesNaming, waitForExit } from '../dev/procs.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const FIXTURE = join(ROOT, 'test/support/cluster-launcher-fixture.ts');
const CHILDREN = ['postgres', 'temporal', 'worker'];

const dirs: string[] = [];
const spawned: ChildProcess[] = [];
afterEach(async () => {
  for (const child of spawned.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) {
    for (const pid of await processesOn(dir)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

async function processesOn(dir: string): Promise<number[]> {
  return (await processesNaming(dir)).map((found) => found.pid);
}

const signalsOf = (dir: string, name: string) => {
  try {
    return readFileSync(join(dir, `${name}.signals`), 'utf8').trim().split('\n').filter((line) => line && line !== 'started');
  } catch {
    return [];
  }
};

/** Starts `command` (the fixture, or a shell around it) and waits for the fixture's ready line. */
async function start(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; ownGroup?: boolean } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'extauth-cluster-lifecycle-'));
  dirs.push(dir);
  const child = spawn(command, args.map((a) => a.replace('DIR', dir)), {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.ownGroup ?? false,
  });
  spawned.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const deadline = Date.now() + 30_000;
  while (!/extauth ready (\{.*\})/.test(output)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ready line:\n${output}`);
    await sleep(50);
  }
  const ready = JSON.parse(/extauth ready (\{.*\})/.exec(output)![1]!) as { pids: number[]; controlPid: number };
  const launcherPid = Number(/launcher pid (\d+)/.exec(output)?.[1] ?? child.pid);
  return { dir, child, exited, ready, launcherPid, output: () => output };
}

const fixtureArgs = ['--import', 'tsx', FIXTURE, 'DIR'];

describe.sequential('npm run cluster stops cleanly and leaves nothing behind', () => {
  it('SIGTERM: stops its children in reverse order, each with one SIGTERM, exits 0, nothing left', async () => {
    const run = await start(process.execPath, fixtureArgs);
    expect(await processesOn(run.dir)).toEqual(expect.arrayContaining([...run.ready.pids, run.ready.controlPid]));
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    for (const name of CHILDREN) expect(signalsOf(run.dir, name)).toEqual(['SIGTERM']);
    expect(run.output()).toMatch(/stopped worker[\s\S]*stopped temporal[\s\S]*stopped postgres/);
    expect(await processesOn(run.dir)).toEqual([]);
  });

  it('Ctrl-C (SIGINT to the process group): only the launcher gets it and stops its children in order; control: a child in its group gets the SIGINT', async () => {
    // As a terminal runs a foreground job: the launcher leads a process group, and Ctrl-C signals the whole group.
    const run = await start(process.execPath, fixtureArgs, { ownGroup: true });
    process.kill(-run.child.pid!, 'SIGINT');
    expect(await run.exited).toBe(0);
    // The control child shares the launcher's group: the SIGINT did reach the group.
    expect(signalsOf(run.dir, 'control')[0]).toBe('SIGINT');
    // The cluster's children are in groups of their own: they only ever got the launcher's SIGTERM, in order.
    for (const name of CHILDREN) expect(signalsOf(run.dir, name)).toEqual(['SIGTERM']);
    expect(run.output()).toMatch(/stopped worker[\s\S]*stopped temporal[\s\S]*stopped postgres/);
    expect(await processesOn(run.dir)).toEqual([]);
  });

  it('its parent dies (SIGKILL): it stops everything within seconds; control: with EXTAUTH_DEV_EXIT_WITH_PARENT=0 it lives on', async () => {
    for (const exitWithParent of [true, false]) {
      // A shell as the parent, as `npm run` is; it prints the launcher's pid and waits.
      const run = await start('sh', ['-c', `node ${fixtureArgs.join(' ')} & echo "launcher pid $!"; wait`], {
        env: exitWithParent ? {} : { EXTAUTH_DEV_EXIT_WITH_PARENT: '0' },
      });
      run.child.kill('SIGKILL');
      await run.exited;
      if (exitWithParent) {
        expect(await waitForExit(run.launcherPid, 15_000), 'the launcher outlived its parent').toBe(true);
        for (const name of CHILDREN) expect(signalsOf(run.dir, name)).toEqual(['SIGTERM']);
        expect(await processesOn(run.dir)).toEqual([]);
      } else {
        await sleep(3_000);
        expect(await isRunning(run.launcherPid)).toBe(true);
        process.kill(run.launcherPid, 'SIGTERM');
        expect(await waitForExit(run.launcherPid, 15_000)).toBe(true);
        expect(await processesOn(run.dir)).toEqual([]);
      }
    }
  });

  it('control for the leftover check: a SIGKILLed launcher cannot stop its children, and the check finds them', async () => {
    const run = await start(process.execPath, fixtureArgs);
    run.child.kill('SIGKILL');
    await run.exited;
    await sleep(500);
    const left = await processesOn(run.dir);
    expect(left).toEqual(expect.arrayContaining(run.ready.pids));
  });
});
