// Minimal reproduction (no extauth code) of a suspected sdk-core ordering bug: a timer fires while the sticky worker
// is dead (SIGKILL), its workflow task times out on the sticky queue, an update arrives meanwhile, and the next task on
// another worker carries both the fired timer and the update. The resulting history is then replayed offline with
// Worker.runReplayHistory. See README.md.
//
//   node --import tsx scripts/upstream/repro-timer-update/run.ts [--rounds 5] [--on-timer local,upsert,activity] [--in-update local]
//        [--update-at 2000] [--b-start after-update|before-update|at-kill] [--timer-ms 5000] [--kill-before 1000]
//        [--next-replay off|live] [--observe-ms 35000] [--next-task ping|timer] [--fail-on-nondeterminism | --late-option]
//
// --next-replay live: after a round's history was produced and checked in-process, SIGKILL worker B, start worker C
// (empty cache), send one more `ping` (--next-task timer: none, the run's next timer makes the task) and watch the run
// for --observe-ms: does the live worker C hit the nondeterminism on its replay, and what becomes of the run.
// --fail-on-nondeterminism: all workers run with workflowFailureErrorTypes { '*': ['NondeterminismError'] }.
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
    cli: { type: 'string', default: resolve(here, '../../../.tools/temporal-1.9.1/bin/temporal') },
    verbose: { type: 'boolean', default: false },
    'start-with-update': { type: 'boolean', default: false }, // start the run with update-with-start
    validator: { type: 'boolean', default: false },
    'warm-update': { type: 'boolean', default: false }, // one ping while worker A is alive, before the kill
    'next-replay': { type: 'string', default: 'off' }, // 'live': after the check, kill B, start C, send a ping, observe
    'observe-ms': { type: 'string', default: '35000' }, // --next-replay live: observe this long (also the ping's deadline)
    'fail-on-nondeterminism': { type: 'boolean', default: false }, // workers: workflowFailureErrorTypes NondeterminismError
    'next-task': { type: 'string', default: 'ping' }, // --next-replay live: 'ping' (one more update) or 'timer' (none)
    'late-option': { type: 'boolean', default: false }, // --next-replay live: then replace C by a worker with the option
  },
});
const rounds = Number(args.rounds);
const timerMs = Number(args['timer-ms']);
const killBefore = Number(args['kill-before']);
const updateAt = Number(args['update-at']);
const bStart = args['b-start'] as 'after-update' | 'before-update' | 'at-kill';
const nextReplay = args['next-replay'] as 'off' | 'live';
if (nextReplay !== 'off' && nextReplay !== 'live') throw new Error('--next-replay must be off or live');
const observeMs = Number(args['observe-ms']);
const nextTask = args['next-task'] as 'ping' | 'timer';
if (nextTask !== 'ping' && nextTask !== 'timer') throw new Error('--next-task must be ping or timer');
const input = (iterations: number): ReproInput => ({
  timerMs,
  iterations,
  onTimer: args['on-timer']!.split(',').filter(Boolean) as ReproInput['onTimer'],
  inUpdate: args['in-update'] as ReproInput['inUpdate'],
  validator: args.validator,
});
const EventType = temporal.api.enums.v1.EventType;
const WorkflowTaskFailedCause = temporal.api.enums.v1.WorkflowTaskFailedCause;
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
      '--search-attribute', 'ReproState=Keyword', '--log-level', 'error',
      // TemporalReportedProblems after 2 failed or timed-out tasks (extauth's dev server does the same).
      '--dynamic-config-value', 'system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute=2'],
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
const workerLinesByName = new Map<string, string[]>(); // a worker's stdout lines (its own logger and sdk-core's)
async function startWorker(
  address: string, taskQueue: string, bundlePath: string, name: string, failOnNd = args['fail-on-nondeterminism'],
): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(here, 'worker.ts'), address, taskQueue, bundlePath, name], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, REPRO_FAIL_ON_NONDETERMINISM: failOnNd ? '1' : '0' },
  });
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  const rl = createInterface({ input: proc.stdout! });
  const mine: string[] = [];
  workerLinesByName.set(name, mine);
  await new Promise<void>((res, rej) => {
    rl.on('line', (line) => {
      if (line === 'READY') res();
      else {
        workerLines.push(line);
        mine.push(line);
        if (args.verbose || /nondetermin|TMPRL1100|Error while completing/i.test(line)) log(line.slice(0, 400));
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
      const wtf = e.workflowTaskFailedEventAttributes;
      if (wtf) name += ` (${WorkflowTaskFailedCause[wtf.cause ?? 0]})`;
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
  log(`variant: on-timer=${args['on-timer']} in-update=${args['in-update']} update-at=${updateAt}ms b-start=${bStart} timer=${timerMs}ms kill-before=${killBefore}ms` +
    ` next-replay=${nextReplay}${nextReplay === 'live' ? ` observe=${observeMs}ms` : ''} fail-on-nondeterminism=${args['fail-on-nondeterminism']}`);
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
    if (nextReplay === 'live') {
      workerA = await nextReplayLive(client, connection, handle, workerB, server.address, taskQueue, bundlePath, round, summaries);
    } else {
      workerA = workerB; // B is the next round's A
    }
    await handle.terminate('repro round done').catch(() => undefined);
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

// The next replay, live: SIGKILL worker B (its cache goes with it), start worker C, cause a new workflow task (one more
// ping, deadline = --observe-ms) and watch the run. With B dead, the next task first sits on B's sticky queue until the
// sticky schedule-to-start timeout (10 s), then goes to the normal queue, where C has to replay the whole history.
// --next-task timer: send no ping; the next task is the one of the run's next timer (it fires <= --timer-ms later).
// --late-option (only without --fail-on-nondeterminism): then SIGKILL C and start worker D *with*
// workflowFailureErrorTypes, and watch again (a run already stuck when the option is rolled out).
// Returns the last worker started (the next round's A).
async function nextReplayLive(
  client: Client, connection: Connection, handle: ReturnType<Client['workflow']['getHandle']>, workerB: ChildProcess,
  address: string, taskQueue: string, bundlePath: string, round: number, summaries: string[],
): Promise<ChildProcess> {
  workerB.kill('SIGKILL');
  log(`round ${round}: next replay: SIGKILLed worker B`);
  const cName = `C${round}`;
  const workerC = await startWorker(address, taskQueue, bundlePath, cName);
  const sent = Date.now();
  let extra = 'none sent';
  let extraDone: Promise<void> = Promise.resolve();
  if (nextTask === 'timer') {
    log(`round ${round}: worker ${cName} up; no ping (the run's next timer makes the next task)`);
  } else {
    log(`round ${round}: worker ${cName} up; sending update ping extra${round} (deadline ${observeMs} ms)`);
    extra = 'pending';
    extraDone = connection
      .withDeadline(sent + observeMs, () => handle.executeUpdate(pingName, { args: [`extra${round}`] }))
      .then(
        (r) => { extra = `returned ${JSON.stringify(r)} after ${Date.now() - sent} ms`; },
        (e: Error) => {
          const cause = (e as { cause?: Error }).cause;
          extra = `error after ${Date.now() - sent} ms: ${e.name}: ${e.message}${cause ? ` (cause: ${cause.name}: ${cause.message})` : ''}`;
        },
      )
      .then(() => log(`round ${round}: extra ping ${extra}`));
  }
  await observe(handle, round, sent);
  await extraDone;
  summaries.push(`round ${round}: ${await outcome(client, handle, round, cName, `; extra ping: ${extra}`)}`);
  if (!args['late-option'] || args['fail-on-nondeterminism']) return workerC;
  workerC.kill('SIGKILL');
  const dName = `D${round}`;
  log(`round ${round}: late option: SIGKILLed worker ${cName}; starting worker ${dName} with workflowFailureErrorTypes NondeterminismError`);
  const workerD = await startWorker(address, taskQueue, bundlePath, dName, true);
  await observe(handle, round, Date.now());
  summaries.push(`round ${round}: late option: ${await outcome(client, handle, round, dName, '')}`);
  return workerD;
}

// Poll describe every second for --observe-ms, log the status and the pending workflow task when they change.
async function observe(handle: ReturnType<Client['workflow']['getHandle']>, round: number, from: number): Promise<void> {
  let last = '';
  while (Date.now() - from < observeMs) {
    let state: string;
    try {
      const d = await handle.describe();
      const pending = d.raw.pendingWorkflowTask;
      state = `status ${d.status.name}` +
        (pending ? `, pending workflow task attempt ${pending.attempt} ${temporal.api.enums.v1.PendingWorkflowTaskState[pending.state ?? 0]}` : '');
    } catch (e) {
      state = `describe failed: ${(e as Error).message}`;
    }
    if (state !== last) log(`round ${round}: [+${((Date.now() - from) / 1000).toFixed(1)}s] ${state}`);
    last = state;
    await sleep(1000);
  }
}

// The run's status, its nondeterminism task failures, its failure, what the worker logged; prints the history.
async function outcome(
  client: Client, handle: ReturnType<Client['workflow']['getHandle']>, round: number, workerName: string, extra: string,
): Promise<string> {
  const d = await handle.describe();
  const h = await history(client, handle.workflowId);
  const events = h.events ?? [];
  const taskFailures = events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED);
  const ndFailures = taskFailures.filter(
    (e) => e.workflowTaskFailedEventAttributes?.cause === WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR,
  );
  const failedEv = events.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED);
  const nd = (workerLinesByName.get(workerName) ?? []).filter((l) => /nondetermin|TMPRL1100/i.test(l)).length;
  const pending = d.raw.pendingWorkflowTask;
  const res =
    `next replay (live, worker ${workerName}): status ${d.status.name}` +
    (pending ? ` (pending workflow task attempt ${pending.attempt})` : '') +
    `; WORKFLOW_TASK_FAILED ${taskFailures.length} (NON_DETERMINISTIC_ERROR ${ndFailures.length})` +
    `; WORKFLOW_EXECUTION_FAILED ${failedEv ? `yes: ${JSON.stringify(failedEv.workflowExecutionFailedEventAttributes?.failure?.message)}` : 'no'}` +
    `; worker ${workerName} log lines mentioning nondeterminism: ${nd}` +
    `; TemporalReportedProblems ${JSON.stringify(d.searchAttributes.TemporalReportedProblems ?? null)}` + extra;
  log(`round ${round}: ${res}`);
  for (const e of taskFailures) {
    const a = e.workflowTaskFailedEventAttributes!;
    log(`round ${round}: event ${e.eventId} WORKFLOW_TASK_FAILED ${WorkflowTaskFailedCause[a.cause ?? 0]}: ${JSON.stringify(a.failure?.message?.slice(0, 300))}`);
  }
  if (failedEv) log(`round ${round}: event ${failedEv.eventId} WORKFLOW_EXECUTION_FAILED`);
  console.log(describe(h).split('\n').map((l) => `      ${l}`).join('\n'));
  return res;
}

const pingName = 'ping';
await main();
