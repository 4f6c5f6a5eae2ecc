// `npm run cluster`'s lifecycle (dev/cluster/run-until-stopped.ts) and child handling (dev/cluster/children.ts) with
// cheap children instead of Temporal and extauth: three ClusterChild sleepers started in order and stopped in reverse,
// as launch.ts does, plus one control child spawned the plain way (in this process's group). Every child appends each
// signal it receives to its log, so the test sees who got what. Usage: node --import tsx <this> DIR
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClusterChild } from '../../dev/cluster/children.js';
import { runUntilStopped } from '../../dev/cluster/run-until-stopped.js';

const dir = process.argv[2]!;
const SLEEPER = `
const fs = require('node:fs');
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { fs.appendFileSync(process.argv[1], s + '\\n'); setTimeout(() => process.exit(0), 300); });
fs.appendFileSync(process.argv[1], 'started\\n');
setInterval(() => {}, 1000);
`;
const say = (msg: string) => process.stderr.write(`${msg}\n`);

process.exitCode = await runUntilStopped(
  'cluster fixture',
  async (checkStop) => {
    const children = ['postgres', 'temporal', 'worker'].map(
      (name) => new ClusterChild(name, process.execPath, ['-e', SLEEPER, join(dir, `${name}.signals`)], { PATH: process.env.PATH }, join(dir, `${name}.log`)),
    );
    const control = spawn(process.execPath, ['-e', SLEEPER, join(dir, 'control.signals')], { stdio: 'ignore' });
    // Ready once every child has its signal handlers (it writes "started"): a signal before that would kill it outright.
    for (const name of ['postgres', 'temporal', 'worker', 'control']) while (!existsSync(join(dir, `${name}.signals`))) await sleep(20);
    checkStop();
    return {
      readyLine: `extauth ready ${JSON.stringify({ pids: children.map((c) => c.pid), controlPid: control.pid })}`,
      summary: 'cluster fixture: up',
      stop: async () => {
        for (const child of [...children].reverse()) {
          await child.stop(5_000);
          say(`cluster fixture: stopped ${child.name}`);
        }
        if (control.exitCode === null && control.signalCode === null) {
          const exited = new Promise((resolve) => control.once('exit', resolve));
          control.kill('SIGTERM');
          await exited;
        }
      },
    };
  },
  say,
);
