// Minimal reproduction (no extauth code) of a suspected sdk-core ordering bug: a timer fires while the sticky worker
// is dead (SIGKILL), its workflow task times out on the sticky queue, an update arrives meanwhile, and the next task on
// another worker carries both the fired timer and the update. The resulting history is then replayed offline with
// Worker.runReplayHistory. See README.md.
//
//   node --import tsx scripts/repro-timer-update/run.ts [--rounds 5] [--on-timer local,upsert,activity] [--in-update local]
//        [--update-at 2000] [--b-start after-update|before-update|at-kill] [--timer-ms 5000] [--kill-before 1000]
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import proto from '@temporalio/proto';
const { temporal } = proto;
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ReproInput } from './workflow.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    'on-timer': { type: 'string', default: 'local,upsert,activity' },
    'in-update': { type: 'string', default: 'local' },
    'update-at': { type: 'string', default: '2000' }, // ms after the timer fires (negative: before it fires)
    'b-start': { type: 'string', default: 'after-update' },
    'timer-ms': { type: 'string', default: '5000' },
    'kill-before': { type: 'string', default: '1000' }, // SIGKILL worker A this many ms before the timer fires
    'wait-update-done': { type: 'string', default: '3000' }, // after the update result, let the run go on this long
    cli: { type: 'string', default: resolve(here, '../../.tools/temporal-1.9.1/bin/temporal') },
    verbose: { type: 'boolean', default: false },
    'start-with-update': { type: 'boolean', default: false }, // start the run with update-with-start
    validator: { type: 'boolean', default: false },
    'warm-update': { type: 'boolean', default: false }, // one ping while worker A is alive, before the kill
  },
});
const rounds = Number(args.rounds);
const timerMs = Number(args['timer-ms']);
const killBefore = Number(args['kill-before']);
const updateAt = Number(args['update-at']);
const bStart = args['b-start'] as 'after-update' | 'before-update' | 'at-kill';
const input = (iterations: number): ReproInput => ({
  timerMs,
  iterations,
  onTimer: args['on-timer']!.split(',').filter(Boolean) as ReproInput['onTimer'],
  inUpdate: args['in-update'] as ReproInput['inUpdate'],
  validator: args.validator,
});
const EventType = temporal.api.enums.v1.EventType;
const t0 = Date.now();
const log = (msg: string): void => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

async function startServer(): Promise<{ address: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(
    args.cli!,
    ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port),
      '--search-attribute', 'ReproState=Keyword', '--log-level', 'error'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  children.add(proc);
  const address = `127.0.0.1:${port}`;
  for (let i = 0; i < 240; i++) {
    try {
      const c = await Connection.connect({ address, connectTimeout: 1000 });
      await c.workflowService.getSystemInfo({});
      await c.close();
      return { address, proc };
    } catch {
      await sleep(250);
    }
  }
  throw new Error('dev server did not come up');
}

const workerLines: string[] = [];
async function startWorker(address: string, taskQueue: string, bundlePath: string, name: string): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(here, 'worker.ts'), address, taskQueue, bundlePath, name], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  const rl = createInterface({ input: proc.stdout! });
  await new Promise<void>((res, rej) => {
    rl.on('line', (line) => {
      if (line === 'READY') res();
      else {
        workerLines.push(line);
        if (args.verbose || /nondetermin|TMPRL1100/i.test(line)) log(line.slice(0, 400));
      }
    });
    proc.on('exit', (code) => rej(new Error(`worker ${name} exited (${code}) before it was ready`)));
  });
  return proc;
}

async function history(client: Client, workflowId: string) {
  return client.workflow.getHandle(workflowId).fetchHistory();
}
type History = Awaited<ReturnType<typeof history>>;

function describe(h: History): string {
  return (h.events ?? [])
    .map((e) => {
      let name = (EventType[e.eventType!] ?? String(e.eventType)).replace(/^EVENT_TYPE_/, '');
      const acc = e.workflowExecutionUpdateAcceptedEventAttributes;
      if (acc) name += ` (acceptedRequestSequencingEventId ${acc.acceptedRequestSequencingEventId})`;
      if (name === 'WORKFLOW_TASK_TIMED_OUT') name += `(${temporal.api.enums.v1.TimeoutType[e.workflowTaskTimedOutEventAttributes?.timeoutType ?? 0]})`;
      return `${e.eventId} ${name}`;
    })
    .join('\n');
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const dir = await mkdtemp(join(tmpdir(), 'repro-timer-update-'));
  const bundle = await bundleWorkflowCode({ workflowsPath: join(here, 'workflow.ts'), logger: new DefaultLogger('WARN') });
  const bundlePath = join(dir, 'workflow-bundle.js');
  await writeFile(bundlePath, bundle.code);
  log(`variant: on-timer=${args['on-timer']} in-update=${args['in-update']} update-at=${updateAt}ms b-start=${bStart} timer=${timerMs}ms kill-before=${killBefore}ms`);
  const server = await startServer();
  log(`dev server at ${server.address}`);
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const taskQueue = 'repro-timer-update';

  let workerA = await startWorker(server.address, taskQueue, bundlePath, 'A1');
  let failed = 0;
  let hadShape = 0;
  const summaries: string[] = [];
  for (let round = 1; round <= rounds; round++) {
    const workflowId = `repro-${round}-${Date.now()}`;
    const startOpts = { taskQueue, workflowId, args: [input(3)] as [ReproInput] };
    let handle = client.workflow.getHandle(workflowId);
    if (args['start-with-update']) {
      const op = new WithStartWorkflowOperation('timerUpdateRepro', { ...startOpts, workflowIdConflictPolicy: 'FAIL' });
      log(`round ${round}: update-with-start: ${await client.workflow.executeUpdateWithStart(pingName, { args: [`start${round}`], startWorkflowOperation: op })}`);
    } else {
      handle = await client.workflow.start('timerUpdateRepro', startOpts);
    }
    // Wait for the first timer to start.
    let fireAt = 0;
    for (;;) {
      const ev = (await history(client, workflowId)).events?.find((e) => e.eventType === EventType.EVENT_TYPE_TIMER_STARTED);
      if (ev) {
        const started = Number(ev.eventTime!.seconds) * 1000 + Math.floor((ev.eventTime!.nanos ?? 0) / 1e6);
        fireAt = started + timerMs;
        break;
      }
      await sleep(100);
    }
    if (args['warm-update']) log(`round ${round}: warm-up update: ${await handle.executeUpdate(pingName, { args: [`warm${round}`] })}`);
    const until = (t: number) => sleep(Math.max(0, t - Date.now()));
    await until(fireAt - killBefore);
    workerA.kill('SIGKILL');
    log(`round ${round}: ${workflowId}: SIGKILLed worker A (${fireAt - Date.now()} ms before the timer fires)`);
    let workerB: ChildProcess | undefined;
    const bName = `B${round}`;
    if (bStart === 'at-kill') workerB = await startWorker(server.address, taskQueue, bundlePath, bName);
    await until(fireAt + updateAt);
    if (bStart === 'before-update') workerB = await startWorker(server.address, taskQueue, bundlePath, bName);
    log(`round ${round}: sending update ping (${Date.now() - fireAt} ms after the timer's fire time)`);
    const updateResult = handle.executeUpdate(pingName, { args: [`r${round}`] });
    updateResult.catch(() => undefined);
    if (!workerB) {
      await sleep(500);
      workerB = await startWorker(server.address, taskQueue, bundlePath, bName);
    }
    log(`round ${round}: worker B up; update result: ${await updateResult}`);
    await sleep(Number(args['wait-update-done']));
    const h = await history(client, workflowId);
    const seq = describe(h);
    // The shape: a timed-out task, then a task whose completion carries both the timer's commands and the update.
    const shape = /WORKFLOW_TASK_TIMED_OUT/.test(seq) && /WORKFLOW_EXECUTION_UPDATE_ACCEPTED/.test(seq);
    if (shape) hadShape++;
    let result = 'replay OK';
    try {
      await Worker.runReplayHistory({ workflowBundle: { code: bundle.code } }, h, workflowId);
    } catch (err) {
      failed++;
      result = `replay FAILED: ${(err as Error).message}`;
      await writeFile(join(dir, `${workflowId}.binpb`), temporal.api.history.v1.History.encode(h).finish());
    }
    log(`round ${round}: ${result}`);
    console.log(seq.split('\n').map((l) => `      ${l}`).join('\n'));
    summaries.push(`round ${round}: ${result.slice(0, 200)}`);
    await handle.terminate('repro round done').catch(() => undefined);
    workerA = workerB; // B is the next round's A
  }
  workerA.kill('SIGKILL');
  log(`SUMMARY variant on-timer=${args['on-timer']} in-update=${args['in-update']} update-at=${updateAt} b-start=${bStart}: ` +
    `${failed} of ${rounds} histories failed replay (${hadShape} had a timed-out task and an accepted update); failing histories in ${dir}`);
  for (const s of summaries) log(s);
  await connection.close();
  server.proc.kill('SIGTERM');
  if (failed === 0) await rm(dir, { recursive: true, force: true });
  process.exit(failed > 0 ? 1 : 0);
}

const pingName = 'ping';
await main();
