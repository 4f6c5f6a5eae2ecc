// `npm run repro:update-storm`: the P3 "client per agent" case of the benchmark, made small and repeatable, to
// reproduce the replay nondeterminism seen under update storms (docs/reliability.md, "Update storms and
// nondeterminism").
//
// Starts its own Temporal dev server, embedded Postgres and fake provider, and one worker per configuration (each on
// its own task queue, in this process). Each round seeds one expired link per configuration and fires N agents at
// it, every agent with its own gRPC connection. Configurations take turns within every round (same run, same load),
// so their figures compare side by side. After each round the run's history is replayed offline against the same
// workflow code (Worker.runReplayHistory): a history that does not replay fails every later replay of the run
// (eviction, "Task not found when completing", worker restart), whether or not one happened during the round.
// Workflow tasks failed live with a nondeterminism error are counted from the core's log lines. The history of every
// round with a failure is written to --out as JSON (encrypted with --out/codec-key.txt), with the round's log lines.
// Exit 1 when any configuration wrote an unreplayable history or failed a workflow task on nondeterminism.
//
//   npm run repro:update-storm                                   16 rounds, 20 agents, hammer client: the workflow with local
//                                                                row activities (breaks) and the real one (does not) (~3 min)
//   npm run repro:update-storm -- --configs 'la:client=hammer,variant=la;noquery:client=noquery,variant=la'
//   npm run repro:update-storm -- --configs 'storm:' --agents 100 --rounds 10            the bench's P3 storm, rarer
//   npm run repro:update-storm -- --rounds 4 --core-debug --stop-on-first               with the core's workflow debug log
//
// A configuration is `name:key=value,key=value`:
//   client=storm|extauth   storm: the first in-flight-limit client (retry the update every 10–30 ms growing to 0.5 s);
//                          extauth: the current ExtauthClient (watch by Query before asking again)
//                          noquery: the storm client's update retries, but no Query at all (turned away: back off and ask again)
//                          hammer: the storm client, each agent starting at a random moment in the first 200 ms and querying
//                          the run every 5 ms until it is answered (queries reach the server while workflow tasks are in flight)
//   cache=N                the worker's maxCachedWorkflows (default: the SDK's)
//   codec=on|off           payload encryption
//   variant=real or changes joined by '+': no-upsert (publish() without upsertSearchAttributes), upsert-once, slow-query
//                          (a busy loop of some 10–100 ms in the cachedToken query handler, standing in for a loaded worker),
//                          la (loadLink, persist, validate and recordFailure as local activities, as before 1.0)
//   sticky=MS              stickyQueueScheduleToStartTimeout
//   wft=N                  maxConcurrentWorkflowTaskExecutions
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createActivities } from '../../activities/index.js';
import { historyToJSONText } from '../../cli/commands/history.js';
import { ExtauthClient, extauthGrpcInterceptors } from '../../client/index.js';
import { TunedExtauthClient } from '../../client/tuned-client.js';
import { extauthDataConverter } from '../../codec/data-converter.js';
import { formatCodecKey, generateCodecKey, makeCodecKeys } from '../../codec/keys.js';
import { TokenSealer } from '../../codec/seal.js';
import { writePrivateFile } from '../../core/private-files.js';
import { createLogger, installTemporalLogging } from '../../config/logger.js';
import { freshEnough } from '../../core/freshness.js';
import { linkWorkflowId } from '../../core/ids.js';
import { FakeOAuthProvider } from '../../dev/fake-provider.js';
import { startEmbeddedPostgres } from '../../dev/postgres.js';
import { startTemporalDevServer } from '../../dev/temporal.js';
import { parseProviders } from '../../providers/config.js';
import { putLink } from '../../store/links.js';
import { migrateUp } from '../../store/migrate.js';
import { cachedTokenQuery, getTokenUpdate, type LinkWorkflowInput } from '../../workflows/messages.js';
import type { Tuning } from '../../workflows/policies.js';
import { DEV_SERVER_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.js';
import { bundleLinkWorkflows } from '../../worker.js';
import { closeActivityDeps, createActivityDeps } from '../../worker/activity-deps.js';
import { ensureSearchAttributes } from '../../worker/search-attributes.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '16' },
    agents: { type: 'string', default: '20' },
    latency: { type: 'string', default: '50' },
    configs: { type: 'string', default: 'la:client=hammer,variant=la;real:client=hammer' },
    'call-timeout': { type: 'string', default: '30000' },
    out: { type: 'string', default: join(tmpdir(), 'extauth-update-storm') },
    'core-debug': { type: 'boolean', default: false },
    'stop-on-first': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(args.rounds);
const AGENTS = Number(args.agents);
const CALL_TIMEOUT_MS = Number(args['call-timeout']);
const OUT = args.out!;
const PROVIDER_ID = 'storm-gh';
const MIN_VALID_SECONDS = 60;
const TUNING: Partial<Tuning> = { exchangeAttemptMs: 5_000, validateAttemptMs: 3_000, idleFinishMs: 5_000 };

interface Config {
  name: string;
  client: 'storm' | 'extauth' | 'noquery' | 'hammer';
  cache?: number;
  codec: boolean;
  /** '+'-joined changes of the workflow copy: real (none), no-upsert, upsert-once, slow-query, no-la. */
  variant: string;
  sticky?: number;
  wft?: number;
}

function parseConfigs(text: string): Config[] {
  return text.split(';').filter(Boolean).map((spec) => {
    const [name, rest = ''] = spec.split(':');
    const kv = Object.fromEntries(rest.split(',').filter(Boolean).map((p) => p.split('=') as [string, string]));
    const known = ['client', 'cache', 'codec', 'variant', 'sticky', 'wft'];
    for (const k of Object.keys(kv)) if (!known.includes(k)) throw new Error(`unknown key ${k} in configuration ${name}`);
    return {
      name: name!,
      client: (kv.client ?? 'storm') as Config['client'],
      cache: kv.cache === undefined ? undefined : Number(kv.cache),
      codec: kv.codec !== 'off',
      variant: kv.variant ?? 'real',
      sticky: kv.sticky === undefined ? undefined : Number(kv.sticky),
      wft: kv.wft === undefined ? undefined : Number(kv.wft),
    };
  });
}
const CONFIGS = parseConfigs(args.configs!);

const log = (msg: string) => console.error(`repro: ${msg}`);

// ---------------------------------------------------------------------------------------------- worker logs

interface LogEntry {
  line: string;
  runId?: string;
  kind: 'nondeterminism' | 'failing' | 'not-found' | 'other';
}
const entries: LogEntry[] = [];
await mkdir(OUT, { recursive: true });
const logger = createLogger(
  {
    write(line: string) {
      const kind = /Nondeterminism|does not handle/.test(line)
        ? 'nondeterminism'
        : /Failing workflow task/.test(line)
          ? 'failing'
          : /Task not found when completing/.test(line)
            ? 'not-found'
            : 'other';
      // Core logs name the run as run_id (in the message fields or the failure text).
      const runId = /"run_?[iI]d"\s*:\s*"([0-9a-f-]{36})"/.exec(line)?.[1];
      entries.push({ line, runId, kind });
    },
  },
  'warn',
);
if (args['core-debug']) {
  // The workflow machinery's own debug lines (activations, WFTs applied, evictions), for the analysis of a failing run.
  Runtime.install({
    logger: new DefaultLogger('DEBUG', (entry) => logger.warn({ ...entry.meta, source: 'temporal' }, entry.message)),
    telemetryOptions: { logging: { filter: 'temporalio_sdk_core::worker::workflow=DEBUG,temporalio_sdk_core=WARN,temporalio_common=WARN,temporalio_client=WARN', forward: {} } },
  });
} else {
  installTemporalLogging(logger, 'WARN');
}

// ---------------------------------------------------------------------------------------------- set-up

const dir = await mkdtemp(join(tmpdir(), 'extauth-storm-'));
await chmod(dir, 0o755);
log(`starting Temporal dev server and Postgres (${dir}); results in ${OUT}`);
const [postgres, temporalServer] = await Promise.all([
  startEmbeddedPostgres({ dataDir: join(dir, 'pg'), persistent: false, log }),
  startTemporalDevServer({ headless: true, searchAttributes: DEV_SERVER_SEARCH_ATTRIBUTES, log }),
]);
await migrateUp(postgres.databaseUrl);
const provider = await FakeOAuthProvider.start({ latencyMs: Number(args.latency) });
const providers = parseProviders([
  { id: PROVIDER_ID, type: 'github', clientId: provider.clientId, clientSecret: provider.clientSecret, tokenUrl: provider.tokenUrl, validateUrl: provider.validateUrl, refreshAheadSeconds: 0 },
]);
const codecKey = generateCodecKey('storm');
const codecKeys = makeCodecKeys(codecKey);
// Exported histories are encrypted with it: keep it next to them for replaying (Worker.runReplayHistory).
writePrivateFile(join(OUT, 'codec-key.txt'), `${formatCodecKey(codecKey)}\n`);
const deps = createActivityDeps({ databaseUrl: postgres.databaseUrl, providers, logger, cipher: null, sealer: new TokenSealer(makeCodecKeys(generateCodecKey('storm-worker'))) });
const native = await NativeConnection.connect({ address: temporalServer.address });
await ensureSearchAttributes(native, 'default');

const bundles = new Map<string, string>();
async function bundleFor(variant: string): Promise<string> {
  if (!bundles.has(variant)) bundles.set(variant, variant === 'real' ? await bundleLinkWorkflows() : await bundleVariant(variant));
  return bundles.get(variant)!;
}

interface Setup {
  config: Config;
  taskQueue: string;
  worker: Worker;
  running: Promise<void>;
  agents: { temporal: Client; extauth: ExtauthClient; connection: Connection }[];
}

const setups: Setup[] = [];
for (const config of CONFIGS) {
  const taskQueue = `storm-${config.name}`;
  const worker = await Worker.create({
    connection: native,
    namespace: 'default',
    taskQueue,
    activities: createActivities(deps),
    ...(config.codec ? { dataConverter: extauthDataConverter(codecKeys) } : {}),
    workflowBundle: { code: await bundleFor(config.variant) },
    ...(config.cache !== undefined ? { maxCachedWorkflows: config.cache } : {}),
    ...(config.sticky !== undefined ? { stickyQueueScheduleToStartTimeout: config.sticky } : {}),
    ...(config.wft !== undefined ? { maxConcurrentWorkflowTaskExecutions: config.wft } : {}),
  });
  const running = worker.run();
  const agents = await Promise.all(
    Array.from({ length: AGENTS }, async () => {
      const connection = await Connection.connect({ address: temporalServer.address, interceptors: extauthGrpcInterceptors() });
      const temporal = new Client({
        connection,
        namespace: 'default',
        ...(config.codec ? { dataConverter: extauthDataConverter(codecKeys) } : {}),
        workflow: { queryRejectCondition: 'NOT_OPEN' },
      });
      return { connection, temporal, extauth: new TunedExtauthClient(temporal, { taskQueue, requestTimeoutMs: CALL_TIMEOUT_MS }, TUNING) };
    }),
  );
  setups.push({ config, taskQueue, worker, running, agents });
  log(`configuration ${config.name}: ${JSON.stringify(config)} on ${taskQueue}, ${AGENTS} connections`);
}
const admin = setups[0]!.agents[0]!.temporal;

// ---------------------------------------------------------------------------------------------- the storm client

/** The first in-flight-limit client (commit e6a29b9): re-read by Query, retry the update every 10–30 ms growing to 0.5 s. */
async function stormGetToken(temporal: Client, taskQueue: string, user: string, deadline: number, query: boolean, hammer = false): Promise<string> {
  if (!hammer) return stormUpdates(temporal, taskQueue, user, deadline, query);
  let done = false;
  const queries = (async () => {
    const workflowId = linkWorkflowId({ providerId: PROVIDER_ID, userId: user });
    while (!done && Date.now() < deadline) {
      await temporal.workflow.getHandle(workflowId).query(cachedTokenQuery).catch(() => undefined);
      await sleep(5);
    }
  })();
  try {
    await sleep(Math.random() * 200);
    return await stormUpdates(temporal, taskQueue, user, deadline, query);
  } finally {
    done = true;
    await queries;
  }
}

async function stormUpdates(temporal: Client, taskQueue: string, user: string, deadline: number, query: boolean): Promise<string> {
  const workflowId = linkWorkflowId({ providerId: PROVIDER_ID, userId: user });
  const recheck = async () => {
    if (!query) return undefined;
    try {
      const c = await temporal.workflow.getHandle(workflowId).query(cachedTokenQuery);
      return c && freshEnough(c, MIN_VALID_SECONDS, Date.now()) ? c.grant.accessToken : undefined;
    } catch {
      return undefined;
    }
  };
  const first = await recheck();
  if (first) return first;
  let turnedAway = 0;
  for (;;) {
    if (Date.now() > deadline) throw new Error('deadline');
    const startWorkflowOperation = new WithStartWorkflowOperation('linkWorkflow', {
      workflowId,
      taskQueue,
      args: [{ providerId: PROVIDER_ID, userId: user, tuning: TUNING } satisfies LinkWorkflowInput],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    try {
      const grant = await temporal.withDeadline(deadline, () =>
        temporal.workflow.executeUpdateWithStart(getTokenUpdate, { args: [{ minValidSeconds: MIN_VALID_SECONDS }], startWorkflowOperation }),
      );
      return grant.accessToken;
    } catch (err) {
      const text = errorText(err);
      if (/in-flight updates/i.test(text)) {
        await sleep(Math.min(20 * 1.5 ** turnedAway++, 500) * (0.5 + Math.random()));
        const answer = await recheck();
        if (answer) return answer;
        continue;
      }
      if (/workflow task in failed state|already completed|closing|not found/i.test(text)) {
        await sleep(100 + Math.random() * 200);
        continue;
      }
      throw err;
    }
  }
}

function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: unknown; details?: unknown; cause?: unknown } | undefined, d = 0; e && d < 5; e = e.cause as typeof e, d++) {
    parts.push(String(e.message ?? ''), String(e.details ?? ''));
  }
  return parts.join(' | ');
}

// ---------------------------------------------------------------------------------------------- rounds

interface Tally {
  rounds: number;
  roundsWithNondeterminism: number;
  nondeterminismLines: number;
  failingLines: number;
  notFoundLines: number;
  failedCalls: number;
  latencies: number[];
  exchanges: number[];
  histories: string[];
  unreplayable: number;
}
const tallies = new Map<string, Tally>(
  CONFIGS.map((c) => [c.name, { rounds: 0, roundsWithNondeterminism: 0, nondeterminismLines: 0, failingLines: 0, notFoundLines: 0, failedCalls: 0, latencies: [], exchanges: [], histories: [], unreplayable: 0 }]),
);

async function seed(user: string): Promise<void> {
  const grant = provider.issueGrant({ familyId: user });
  await putLink(deps.pool, { providerId: PROVIDER_ID, userId: user }, {
    accessToken: grant.accessToken,
    refreshToken: grant.refreshToken,
    tokenType: 'bearer',
    expiresAt: new Date(Date.now() - 10_000).toISOString(),
    extra: { expires_in: grant.expiresIn },
  }, deps.cipher);
}

async function round(setup: Setup, r: number): Promise<void> {
  const { config } = setup;
  const tally = tallies.get(config.name)!;
  const user = `${config.name}-${r}-${Math.random().toString(36).slice(2, 6)}`;
  const workflowId = linkWorkflowId({ providerId: PROVIDER_ID, userId: user });
  await seed(user);
  if (args['core-debug']) entries.length = 0;
  const firstEntry = entries.length;
  const deadline = Date.now() + CALL_TIMEOUT_MS;
  let failed = 0;
  const t0 = Date.now();
  await Promise.all(
    setup.agents.map(async (agent) => {
      const started = Date.now();
      try {
        if (config.client !== 'extauth') await stormGetToken(agent.temporal, setup.taskQueue, user, deadline, config.client !== 'noquery', config.client === 'hammer');
        else await agent.extauth.getToken({ provider: PROVIDER_ID, user, minValidSeconds: MIN_VALID_SECONDS });
        tally.latencies.push(Date.now() - started);
      } catch {
        failed++;
      }
    }),
  );
  const wall = Date.now() - t0;
  // Let the run settle (its last tasks, a failing task's retry) before reading the log.
  await sleep(1_000);
  const runId = (await admin.workflow.getHandle(workflowId).describe().catch(() => undefined))?.runId;
  const mine = entries.slice(firstEntry).filter((e) => !e.runId || e.runId === runId || e.line.includes(workflowId) || args['core-debug']);
  const nd = mine.filter((e) => e.kind === 'nondeterminism').length;
  const failing = mine.filter((e) => e.kind === 'failing').length;
  const notFound = mine.filter((e) => e.kind === 'not-found').length;
  tally.rounds++;
  tally.failedCalls += failed;
  tally.nondeterminismLines += nd;
  tally.failingLines += failing;
  tally.notFoundLines += notFound;
  tally.exchanges.push(provider.stats.tokenCallsByFamily.get(user) ?? 0);
  // The decisive check: does the run's history, as written, replay against the same code? A history that does not
  // fails every later replay of the run (eviction, worker restart), whether or not one happened during the round.
  const history = await admin.workflow.getHandle(workflowId).fetchHistory();
  let replayError: string | undefined;
  try {
    await Worker.runReplayHistory(
      { workflowBundle: { code: await bundleFor(config.variant) }, ...(config.codec ? { dataConverter: extauthDataConverter(codecKeys) } : {}) },
      history,
      workflowId,
    );
  } catch (err) {
    replayError = /Nondeterminism error: [^"\\]*/.exec((err as Error).message)?.[0] ?? (err as Error).message.slice(0, 200);
  }
  if (replayError) tally.unreplayable++;
  log(`round ${r} ${config.name}: ${wall} ms, failed calls ${failed}/${AGENTS}, task-not-found ${notFound}, failing WFT ${failing}, nondeterminism ${nd}, exchanges ${provider.stats.tokenCallsByFamily.get(user) ?? 0}, history replays: ${replayError ?? 'yes'}`);
  if (nd > 0 || failing > 0 || replayError) {
    tally.roundsWithNondeterminism += nd > 0 ? 1 : 0;
    const file = join(OUT, `${config.name}-round${r}-${runId}.json`);
    await writeFile(file, historyToJSONText(history));
    await writeFile(file.replace(/\.json$/, '.log'), mine.map((e) => e.line).join(''));
    tally.histories.push(file);
    log(`  history: ${file}`);
    const live = /Nondeterminism error: [^"\\]*/.exec(mine.find((e) => e.kind === 'nondeterminism')?.line ?? '')?.[0];
    if (live) log(`  live: ${live}`);
    await admin.workflow.getHandle(workflowId).terminate('repro: stuck run').catch(() => undefined);
    if (args['stop-on-first']) return;
  }
}

const started = Date.now();
try {
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate the order so that neither configuration always runs first after a pause.
    const order = r % 2 === 0 ? setups : [...setups].reverse();
    for (const setup of order) await round(setup, r);
    if (args['stop-on-first'] && [...tallies.values()].some((t) => t.roundsWithNondeterminism > 0 || t.unreplayable > 0)) break;
  }
} finally {
  const summary = [...tallies.entries()].map(([name, t]) => {
    const sorted = [...t.latencies].sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? null;
    return {
      name,
      config: CONFIGS.find((c) => c.name === name),
      rounds: t.rounds,
      roundsWithNondeterminism: t.roundsWithNondeterminism,
      unreplayableHistories: t.unreplayable,
      nondeterminismLines: t.nondeterminismLines,
      failingWorkflowTaskLines: t.failingLines,
      taskNotFoundLines: t.notFoundLines,
      failedCalls: t.failedCalls,
      calls: t.rounds * AGENTS,
      p50: pct(50),
      p99: pct(99),
      exchangesPerRound: t.exchanges,
      histories: t.histories,
    };
  });
  const text = JSON.stringify({ agents: AGENTS, rounds: ROUNDS, latencyMs: Number(args.latency), seconds: Math.round((Date.now() - started) / 1000), summary }, null, 2);
  await writeFile(join(OUT, 'summary.json'), `${text}\n`);
  await writeFile(join(OUT, 'worker.log'), entries.map((e) => e.line).join(''));
  console.log(text);
  for (const s of summary) {
    console.log(`${s.name}: unreplayable histories ${s.unreplayableHistories}/${s.rounds}, live nondeterminism in ${s.roundsWithNondeterminism}/${s.rounds} rounds (${s.nondeterminismLines} lines), task-not-found ${s.taskNotFoundLines}, failed calls ${s.failedCalls}/${s.calls}, p50 ${s.p50} ms, p99 ${s.p99} ms`);
  }
  process.on('uncaughtException', (err) => {
    if (/Channel has been shut down/.test(String(err?.message))) return;
    console.error(err);
  });
  for (const s of setups) s.worker.shutdown();
  await Promise.allSettled(setups.map((s) => s.running));
  await Promise.allSettled(setups.flatMap((s) => s.agents.map((a) => a.connection.close())));
  await Promise.allSettled([native.close(), closeActivityDeps(deps), provider.close()]);
  await Promise.allSettled([temporalServer.stop(), postgres.stop()]);
  await rm(dir, { recursive: true, force: true });
}
// Exit 1 when any configuration wrote a history that does not replay or failed a workflow task on nondeterminism.
process.exit([...tallies.values()].some((t) => t.unreplayable > 0 || t.roundsWithNondeterminism > 0) ? 1 : 0);

// ---------------------------------------------------------------------------------------------- variants

/**
 * A copy of workflows/ with the changes of `variant`, bundled like the real workflows (the copy is removed afterwards).
 * `la` puts back what 1.0 removed (loadLink, persist, validate and recordFailure as local activities): the shape
 * whose histories sdk-core 1.24 breaks under updates and queries.
 */
async function bundleVariant(variant: string): Promise<string> {
  const changes = variant.split('+');
  const known = ['no-upsert', 'upsert-once', 'slow-query', 'la'];
  for (const c of changes) if (!known.includes(c)) throw new Error(`unknown variant change ${c}`);
  const workflowsDir = fileURLToPath(new URL('../../workflows/', import.meta.url));
  const change = (file: string, source: string, from: string, to: string): string => {
    if (!source.includes(from)) throw new Error(`workflows/${file} no longer contains "${from}": update scripts/upstream/repro-update-storm.ts`);
    return source.replaceAll(from, to);
  };
  const gen = fileURLToPath(new URL(`./.generated-${process.pid}-${changes.join('-')}/`, import.meta.url));
  await mkdir(gen, { recursive: true });
  try {
    for (const file of (await readdir(workflowsDir)).filter((f) => f.endsWith('.ts'))) {
      let source = await readFile(join(workflowsDir, file), 'utf8');
      if (file === 'link-effects.ts') {
        if (changes.includes('no-upsert')) source = change(file, source, 'upsertSearchAttributes([', '((_: unknown) => undefined)([');
        if (changes.includes('upsert-once')) source = change(file, source, 'if (state !== this.published) {', 'if (this.published === undefined) {');
        if (changes.includes('la')) {
          source = change(file, source, "} from '@temporalio/workflow';", "} from '@temporalio/workflow';\nimport { proxyLocalActivities } from '@temporalio/workflow';");
          for (const row of ['persist', 'validate', 'load', 'recordFailure']) {
            source = change(file, source, `proxyActivities<ExtauthActivities>(options.${row})`, `proxyLocalActivities<ExtauthActivities>(options.${row})`);
          }
        }
      }
      if (file === 'link-handlers.ts' && changes.includes('slow-query')) {
        // Date.now() is frozen inside a workflow: spin by count.
        const QUERY = 'setHandler(cachedTokenQuery, () => ';
        source = change(file, source, QUERY, `${QUERY}{\n    let spin = 0;\n    for (let i = 0; i < 3_000_000; i++) spin += i;\n    return spin < 0 ? null : `);
        source = change(file, source, 'run.cached(Date.now()));', 'run.cached(Date.now());\n  });');
      }
      await writeFile(join(gen, file), `// GENERATED by scripts/upstream/repro-update-storm.ts; deleted after bundling.\n${source.replace(/from '\.\.\//g, "from '../../../")}`);
    }
    return await bundleLinkWorkflows(join(gen, 'index.ts'));
  } finally {
    await rm(gen, { recursive: true, force: true });
  }
}
