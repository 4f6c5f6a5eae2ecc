// `npm run bench [-- --quick] [--latency MS] [--out FILE] [--cluster]`: extauth measured side by side with its yardsticks
// (the engine's floors, the same work in plain code, the seed's algorithm) in one run, on one Temporal dev
// server, one embedded Postgres and one fake provider. Prints one table and writes bench/results.json.
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import proto from '@temporalio/proto';
import { bundleWorkflowCode } from '@temporalio/worker';
import { fork, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExtauthClient, extauthGrpcInterceptors } from '../client/index.js';
import { extauthDataConverter, FAILURE_CONVERTER_PATH } from '../codec/data-converter.js';
import { formatCodecKey, generateCodecKey, makeCodecKeys } from '../codec/keys.js';
import { TokenSealer } from '../codec/seal.js';
import { AesGcmCodec } from '../codec/aes-gcm-codec.js';
import { createLogger } from '../config/logger.js';
import { linkWorkflowId } from '../core/ids.js';
import type { LinkKey } from '../core/types.js';
import { startEmbeddedPostgres } from '../dev/postgres.js';
import { startTemporalDevServer } from '../dev/temporal.js';
import { FakeOAuthProvider } from '../dev/fake-provider.js';
import { parseProviders } from '../providers/config.js';
import { getLink, putLink } from '../store/links.js';
import { migrateUp } from '../store/migrate.js';
import { WORKFLOWS_PATH } from '../worker.js';
import { closeActivityDeps, createActivityDeps } from '../worker/activity-deps.js';
import { DEV_SERVER_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';
import { referenceGetToken } from './reference/reference-refresh.js';
import { directRefresh } from './direct-refresh.js';
import { Registry } from 'prom-client';
import { Client as UndiciClient } from 'undici';
import { listenAgentEndpoint } from '../agent-api/listen.js';
import { createAgentRequestCounter } from '../agent-api/metrics.js';
import { createAgentKey } from '../store/agent-keys.js';
import { noopQuery, noopUpdate, refreshShapeUpdate } from './engine/workflows.js';
import { round, summarize, timed, withConcurrency, type Summary } from './stats.js';
import { EndpointTimeline, type EndpointBreakdown } from './endpoint-timeline.js';
import type { EndpointChildAnswer, EndpointChildRequest } from './endpoint-child.js';
import { REFRESH_SEGMENTS, RefreshTimeline, wallNow } from './refresh-timeline.js';
import { cachedTokenQuery } from '../workflows/messages.js';
import type { ChildAnswer, ChildConfig, ChildRequest } from './worker-child.js';
import type { MemoryBreakdown } from './memory-breakdown.js';
import { cacheOption } from '../worker/cache.js';

// ---------------------------------------------------------------------------------------------- options

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const option = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const QUICK = flag('--quick');
const LATENCY_MS = Number(option('--latency') ?? 50);
const OUT = option('--out') ?? fileURLToPath(new URL('./results.json', import.meta.url));
const ONLY = option('--only')?.split(',');
const runs = (phase: string) => !ONLY || ONLY.includes(phase);
/** `--p3 shared,per-agent,endpoint` (default all): P3's variants; `--p3-rounds N` overrides the rounds of each. */
const P3_VARIANTS = option('--p3')?.split(',') ?? ['shared', 'per-agent', 'endpoint'];
// `--cluster`: P2 and P4 on a real multi-service cluster beside this bench's dev-server figures (bench/cluster.ts).
if (flag('--cluster')) process.exit(await (await import('./cluster.js')).runClusterBench(argv));

const SIZES = QUICK
  ? { p1Links: 10, p1Samples: 150, p2Samples: 15, p3Rounds: 3, p3Agents: 100, p4Links: 200, p5Links: 1000, p5P1Samples: 100, p5P2Samples: 10 }
  : { p1Links: 20, p1Samples: 1000, p2Samples: 60, p3Rounds: 10, p3Agents: 100, p4Links: 1000, p5Links: 5000, p5P1Samples: 300, p5P2Samples: 30 };
if (option('--p3-rounds')) SIZES.p3Rounds = Number(option('--p3-rounds'));
const HERD_CONCURRENCY = 50;
const PROVIDER_ID = 'bench-gh';
const NAMESPACE = 'default';

const log = (msg: string) => console.error(`bench: ${msg}`);
const quietBundler = { trace: () => {}, debug: () => {}, info: () => {}, log: () => {}, warn: (m: string) => console.warn(m), error: (m: string) => console.error(m) };

// ---------------------------------------------------------------------------------------------- setup

const started = Date.now();
const loadAtStart = loadavg();
const dir = await mkdtemp(join(tmpdir(), 'extauth-bench-'));
await chmod(dir, 0o755); // as root, Postgres runs as "postgres" and must enter it
log(`starting Temporal dev server, embedded Postgres and bundling workflows (${dir})`);
const [postgres, temporalServer, extauthBundle, bareBundle] = await Promise.all([
  startEmbeddedPostgres({ dataDir: join(dir, 'pg'), persistent: false, log }),
  startTemporalDevServer({ headless: true, searchAttributes: DEV_SERVER_SEARCH_ATTRIBUTES, log }),
  bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, failureConverterPath: FAILURE_CONVERTER_PATH, logger: quietBundler }),
  bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('./engine/workflows.ts', import.meta.url)),
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: quietBundler,
  }),
]);
await migrateUp(postgres.databaseUrl);
const extauthBundlePath = join(dir, 'extauth-bundle.js');
const bareBundlePath = join(dir, 'bare-bundle.js');
await Promise.all([writeFile(extauthBundlePath, extauthBundle.code), writeFile(bareBundlePath, bareBundle.code)]);

const provider = await FakeOAuthProvider.start({ latencyMs: LATENCY_MS });
const providers = parseProviders([
  {
    id: PROVIDER_ID,
    type: 'github',
    clientId: provider.clientId,
    clientSecret: provider.clientSecret,
    tokenUrl: provider.tokenUrl,
    validateUrl: provider.validateUrl,
  },
]);
const providerConfig = providers[0]!;
const codecKey = generateCodecKey('bench');
const codecKeys = makeCodecKeys(codecKey);
const workerKey = generateCodecKey('bench-worker');
// The yardsticks' own dependencies, configured exactly as a worker's (same pool size, same HTTP agent).
const deps = createActivityDeps({
  databaseUrl: postgres.databaseUrl,
  providers,
  logger: createLogger(undefined, 'silent'),
  cipher: null,
  sealer: new TokenSealer(makeCodecKeys(workerKey)),
});
const connection = await Connection.connect({ address: temporalServer.address, interceptors: extauthGrpcInterceptors() });
const temporal = new Client({ connection, namespace: NAMESPACE, dataConverter: extauthDataConverter(codecKeys) });

let taskQueue = 'extauth-bench';
const BARE_TASK_QUEUE = 'extauth-bench-bare';
let extauth = new ExtauthClient(temporal, { taskQueue });

// ---------------------------------------------------------------------------------------------- worker child

class WorkerChild {
  private readonly child: ChildProcess;
  private readonly waiting: ((a: ChildAnswer) => void)[] = [];
  private constructor(readonly queue: string) {
    this.child = fork(fileURLToPath(new URL('./worker-child.ts', import.meta.url)), [], {
      // BENCH_WORKER_NODE_FLAGS: extra Node/V8 flags for the worker alone (memory experiments, docs/performance.md).
      execArgv: ['--import', 'tsx', '--expose-gc', ...(process.env.BENCH_WORKER_NODE_FLAGS?.split(' ').filter(Boolean) ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (a: ChildAnswer) => {
      if (a.type === 'error') {
        console.error(`worker child failed: ${a.message}`);
        process.exitCode = 1;
      }
      this.waiting.shift()?.(a);
    });
  }
  static async start(queue: string, bare = true, extauthWorker = true, bareQueue = BARE_TASK_QUEUE): Promise<WorkerChild> {
    const w = new WorkerChild(queue);
    const config: ChildConfig = {
      temporalAddress: temporalServer.address,
      databaseUrl: postgres.databaseUrl,
      providers,
      codecKey: formatCodecKey(codecKey),
      workerKey: formatCodecKey(workerKey),
      taskQueue: queue,
      bareTaskQueue: bareQueue,
      extauthBundlePath,
      bareBundlePath,
      logFile: join(dir, 'worker.log'),
      bare,
      extauth: extauthWorker,
    };
    const ready = await w.ask({ type: 'start', config });
    if (ready.type !== 'ready') throw new Error(`worker child did not start: ${JSON.stringify(ready)}`);
    return w;
  }
  ask(req: ChildRequest): Promise<ChildAnswer> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.send(req);
    });
  }
  /** Where the child's RSS went at each rssMB() call (bench/memory-breakdown.ts), by label. */
  readonly breakdowns: Record<string, MemoryBreakdown> = {};
  async rssMB(label?: string): Promise<number> {
    const a = await this.ask({ type: 'rss' });
    if (a.type === 'rss' && label) {
      this.breakdowns[label] = a.breakdown;
      log(`worker memory ${label}: ${JSON.stringify(a.breakdown)}`);
    }
    return a.type === 'rss' ? round(a.rss / 2 ** 20, 1) : NaN;
  }
  async stop(): Promise<void> {
    await this.ask({ type: 'stop' });
    this.child.disconnect();
    await new Promise((r) => (this.child.exitCode !== null ? r(undefined) : this.child.once('exit', r)));
  }
}

let worker = await WorkerChild.start(taskQueue);
log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s; provider latency ${LATENCY_MS} ms${QUICK ? ', quick' : ''}`);

// ---------------------------------------------------------------------------------------------- helpers

const key = (user: string): LinkKey => ({ providerId: PROVIDER_ID, userId: user });

async function seed(user: string, expiresInSeconds: number): Promise<void> {
  const grant = provider.issueGrant({ familyId: user });
  await putLink(deps.pool, key(user), {
    accessToken: grant.accessToken,
    refreshToken: grant.refreshToken,
    tokenType: 'bearer',
    expiresAt: new Date(Date.now() + expiresInSeconds * 1000).toISOString(),
    extra: { expires_in: grant.expiresIn },
  });
}

async function seedMany(users: string[], expiresInSeconds: number): Promise<void> {
  await withConcurrency(users.length, 8, (i) => seed(users[i]!, expiresInSeconds));
}

const getToken = (user: string) => extauth.getToken({ provider: PROVIDER_ID, user, minValidSeconds: 60 });

async function historyLength(workflowId: string): Promise<number> {
  const d = await temporal.workflowService.describeWorkflowExecution({ namespace: NAMESPACE, execution: { workflowId } });
  return Number(d.workflowExecutionInfo?.historyLength ?? 0);
}

async function historyEvents(workflowId: string): Promise<proto.temporal.api.history.v1.IHistoryEvent[]> {
  const events: proto.temporal.api.history.v1.IHistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await temporal.workflowService.getWorkflowExecutionHistory({ namespace: NAMESPACE, execution: { workflowId }, nextPageToken });
    events.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return events;
}

async function history(workflowId: string): Promise<{ events: number; bytes: number }> {
  const events = await historyEvents(workflowId);
  const bytes = proto.temporal.api.history.v1.History.encode({ events }).finish().length;
  return { events: events.length, bytes };
}

/** A link is lost when the database no longer holds the refresh token the provider accepts: the user is locked out. */
function lostRotations(users: string[]): Promise<number> {
  return Promise.all(users.map(async (u) => ((await getLink(deps.pool, key(u)))?.refreshToken === provider.liveRefreshToken(u) ? 0 : 1))).then((xs) =>
    xs.reduce<number>((s, x) => s + x, 0),
  );
}

function floorStart(workflowId: string, workflowType = 'floorWorkflow', queue = BARE_TASK_QUEUE) {
  return new WithStartWorkflowOperation(workflowType, {
    workflowId,
    taskQueue: queue,
    args: [],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
}

const refreshShape = (workflowId: string, latencyMs: number) =>
  temporal.workflow.executeUpdateWithStart(refreshShapeUpdate, { args: [latencyMs], startWorkflowOperation: floorStart(workflowId, 'refreshShapeWorkflow') });

const ratio = (a: number, b: number) => round(a / b, 2);

interface Failures {
  count: number;
  first?: string;
}
function failures(): Failures {
  return { count: 0 };
}
/** A call that has not answered after this long counts as failed (a stuck run must not hang the bench). */
const CALL_TIMEOUT_MS = 60_000;

async function counted(f: Failures, fn: () => Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${CALL_TIMEOUT_MS} ms`)), CALL_TIMEOUT_MS))),
    ]);
  } catch (err) {
    f.count++;
    f.first ??= String((err as Error).message ?? err).slice(0, 200);
  } finally {
    clearTimeout(timer);
  }
}

const results: Record<string, any> = {
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    temporalServer: 'temporal CLI dev server (in-memory), history.transferProcessorMaxPollRPS=1000',
    loadAverageAtStart: loadAtStart.map((x) => round(x)),
  },
  quick: QUICK,
  providerLatencyMs: LATENCY_MS,
  command: `npm run bench${QUICK ? ' -- --quick' : ''}`,
  startedAt: new Date(started).toISOString(),
};

// ---------------------------------------------------------------------------------------------- P1

async function p1(): Promise<void> {
  log('P1 fresh token vs no-op Update');
  const users = Array.from({ length: SIZES.p1Links }, (_, i) => `p1-${i}`);
  const floors = users.map((_, i) => `floor-${i}`);
  await seedMany(users, 3600);
  for (const u of users) await getToken(u); // runs open, link loaded
  for (const f of floors) await temporal.workflow.executeUpdateWithStart(noopUpdate, { args: [{ minValidSeconds: 60 }], startWorkflowOperation: floorStart(f) });
  const floorHandles = floors.map((f) => temporal.workflow.getHandle(f));
  for (let i = 0; i < 30; i++) {
    await getToken(users[i % users.length]!);
    await floorHandles[i % floors.length]!.executeUpdate(noopUpdate, { args: [{ minValidSeconds: 60 }] });
  }
  const before = await Promise.all(users.map((u) => historyLength(linkWorkflowId(key(u)))));
  const floorBefore = await Promise.all(floors.map((f) => historyLength(f)));
  const ext: number[] = [];
  const upd: number[] = [];
  const uws: number[] = [];
  const qry: number[] = [];
  const providerCalls = provider.stats.tokenCalls + provider.stats.validateCalls;
  for (let i = 0; i < SIZES.p1Samples; i++) {
    const u = users[i % users.length]!;
    const f = floors[i % floors.length]!;
    ext.push(await timed(() => getToken(u)));
    upd.push(await timed(() => floorHandles[i % floors.length]!.executeUpdate(noopUpdate, { args: [{ minValidSeconds: 60 }] })));
    uws.push(await timed(() => temporal.workflow.executeUpdateWithStart(noopUpdate, { args: [{ minValidSeconds: 60 }], startWorkflowOperation: floorStart(f) })));
    qry.push(await timed(() => floorHandles[i % floors.length]!.query(noopQuery)));
  }
  const after = await Promise.all(users.map((u) => historyLength(linkWorkflowId(key(u)))));
  const floorAfter = await Promise.all(floors.map((f) => historyLength(f)));
  const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
  const e = summarize(ext);
  const floor = summarize(upd);
  results.P1 = {
    extauth: e,
    floorNoopUpdate: floor,
    floorNoopUpdateWithStart: summarize(uws),
    floorNoopQuery: summarize(qry),
    ratioToQueryFloor: ratio(e.p50, summarize(qry).p50),
    ratio: ratio(e.p50, floor.p50),
    ratioP99: ratio(e.p99, floor.p99),
    ratioToUpdateWithStartFloor: ratio(e.p50, summarize(uws).p50),
    goal: 1.2,
    met: e.p50 / floor.p50 <= 1.2,
    historyEventsPerFreshRead: round((sum(after) - sum(before)) / SIZES.p1Samples, 2),
    floorHistoryEventsPerNoopUpdate: round((sum(floorAfter) - sum(floorBefore)) / (2 * SIZES.p1Samples), 2),
    providerCallsDuringFreshReads: provider.stats.tokenCalls + provider.stats.validateCalls - providerCalls,
  };
}

// ---------------------------------------------------------------------------------------------- P2

async function p2At(latencyMs: number, samples: number, label: string, tag: string): Promise<Record<string, any>> {
  provider.setLatency('token', latencyMs);
  provider.setLatency('validate', latencyMs);
  const warm = 3;
  const extUsers = Array.from({ length: samples + warm }, (_, i) => `p2-${tag}-ext-${i}`);
  const dirUsers = Array.from({ length: samples + warm }, (_, i) => `p2-${tag}-dir-${i}`);
  await seedMany([...extUsers, ...dirUsers], -10);
  const ext: number[] = [];
  const dir_: number[] = [];
  const bare: number[] = [];
  const fail = failures();
  let stale = 0;
  // Measured apart (untimed bookkeeping between the samples): each side's history cut into segments, the plain
  // code's steps, and the Query a cold getToken sends first, which finds no run.
  const extTimeline = new RefreshTimeline();
  const bareTimeline = new RefreshTimeline();
  const steps: Record<string, number[]> = { noRunQuery: [], load: [], exchange: [], persist: [], validate: [] };
  await worker.ask({ type: 'io' }); // from here on: this run's statements and provider calls in the worker
  for (let i = 0; i < samples + warm; i++) {
    let token = '';
    const ends = { ext: [0, 0], bare: [0, 0] };
    const te = await timed(() =>
      counted(fail, async () => {
        ends.ext[0] = wallNow();
        token = (await getToken(extUsers[i]!)).accessToken;
        ends.ext[1] = wallNow();
      }),
    );
    if (i >= warm && !provider.isAccessTokenValid(token)) stale++;
    const dirSteps: [string, number][] = [];
    const td = await timed(() =>
      counted(fail, () => directRefresh({ pool: deps.pool, http: deps.http, provider: providerConfig }, key(dirUsers[i]!), (step, ms) => dirSteps.push([step, ms]))),
    );
    const tb = await timed(() =>
      counted(fail, async () => {
        ends.bare[0] = wallNow();
        await refreshShape(`shape-${tag}-${i}`, latencyMs);
        ends.bare[1] = wallNow();
      }),
    );
    const tq = await timed(() => temporal.workflow.getHandle(`p2-no-run-${tag}-${i}`).query(cachedTokenQuery).catch(() => undefined));
    if (i < warm) continue;
    ext.push(te);
    dir_.push(td);
    bare.push(tb);
    extTimeline.add(await historyEvents(linkWorkflowId(key(extUsers[i]!))), ends.ext[0]!, ends.ext[1]!);
    bareTimeline.add(await historyEvents(`shape-${tag}-${i}`), ends.bare[0]!, ends.bare[1]!);
    for (const [step, ms] of dirSteps) steps[step]!.push(ms);
    steps.noRunQuery!.push(tq);
  }
  provider.setLatency('token', LATENCY_MS);
  provider.setLatency('validate', LATENCY_MS);
  const e = summarize(ext);
  const d = summarize(dir_);
  const b = summarize(bare);
  log(`P2 ${label}: extauth p50 ${e.p50} ms, plain code ${d.p50} ms, bare shape ${b.p50} ms`);
  return {
    providerLatencyMs: latencyMs,
    extauth: e,
    plainCode: d,
    bareThreeActivityWorkflow: b,
    ratio: ratio(e.p50, d.p50),
    ratioToBareWorkflow: ratio(e.p50, b.p50),
    extauthOverPlainMs: round(e.p50 - d.p50),
    breakdown: {
      extauth: extTimeline.summary(),
      bareThreeActivityWorkflow: bareTimeline.summary(),
      plainCodeSteps: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, summarize(v)])),
      // In the worker, warm-up calls included (n / (samples + 3) per refresh).
      workerIo: ((a) => (a.type === 'io' ? a.io : undefined))(await worker.ask({ type: 'io' })),
    },
    failures: fail,
    tokensNotValidAtProvider: stale,
  };
}

async function p2(): Promise<void> {
  log('P2 one refresh (cold: Update-with-Start opens the run, loads the link, refreshes)');
  const atLatency = await p2At(LATENCY_MS, SIZES.p2Samples, `${LATENCY_MS} ms`, `l${LATENCY_MS}`);
  const atZero = await p2At(0, SIZES.p2Samples, '0 ms', 'l0');
  results.P2 = {
    ...atLatency,
    codecMicrosPerPayload: await codecCost(),
    goal: 1.2,
    met: atLatency.ratio <= 1.2,
    at0ms: atZero,
  };
}

/** AES-GCM encode + decode of one 1 KB payload (an exchange answer is about that), in µs: what the codec adds per payload. */
async function codecCost(): Promise<number> {
  const codec = new AesGcmCodec(codecKeys);
  const payload = { metadata: { encoding: new TextEncoder().encode('json/plain') }, data: new Uint8Array(1024).fill(97) };
  const n = 2000;
  const t = await timed(async () => {
    for (let i = 0; i < n; i++) await codec.decode(await codec.encode([payload]));
  });
  return round((t * 1000) / n, 1);
}

// ---------------------------------------------------------------------------------------------- P3

/** An agent's token request for `user`: its access token. `prepare` runs before each round, untimed. */
type AgentRequest = (agent: number, user: string) => Promise<string>;
const viaClient = (clientFor: (agent: number) => ExtauthClient): AgentRequest => async (agent, user) =>
  (await clientFor(agent).getToken({ provider: PROVIDER_ID, user, minValidSeconds: 60 })).accessToken;

interface FanInVariant {
  label: string;
  request: AgentRequest;
  /** Runs before each round, untimed. */
  prepare?: (user: string) => Promise<void>;
  /** Runs after each round, untimed. */
  finish?: () => Promise<void>;
}
type FanInResult = Awaited<ReturnType<typeof fanInSummary>>;

/** Every variant's rounds interleaved (round 1 of each, then round 2 of each…), so that they share the machine's load. */
async function fanIn(variants: FanInVariant[]): Promise<Map<string, FanInResult>> {
  const runs = new Map(variants.map((v) => [v.label, { latencies: [] as number[], exchanges: [] as number[], fail: failures(), distinctTokens: 0 }]));
  for (let r = 0; r < SIZES.p3Rounds; r++) {
    for (const { label, request, prepare, finish } of variants) {
      const run = runs.get(label)!;
      const user = `p3-${label}-${r}`;
      await seed(user, -10);
      await prepare?.(user);
      const tokens = new Set<string>();
      await Promise.all(
        Array.from({ length: SIZES.p3Agents }, async (_, a) => {
          run.latencies.push(await timed(() => counted(run.fail, async () => void tokens.add(await request(a, user)))));
        }),
      );
      await finish?.();
      run.exchanges.push(provider.stats.tokenCallsByFamily.get(user) ?? 0);
      run.distinctTokens = Math.max(run.distinctTokens, tokens.size);
    }
  }
  return new Map([...runs].map(([label, run]) => [label, fanInSummary(label, run)]));
}

function fanInSummary(label: string, run: { latencies: number[]; exchanges: number[]; fail: Failures; distinctTokens: number }) {
  const s = summarize(run.latencies);
  log(`P3 ${label}: p50 ${s.p50} ms, p99 ${s.p99} ms, exchanges ${run.exchanges.join(',')}, failures ${run.fail.count}`);
  return {
    latency: s,
    exchangesPerRound: run.exchanges,
    exactlyOneExchange: run.exchanges.every((x) => x === 1),
    maxDistinctTokensPerRound: run.distinctTokens,
    failures: run.fail,
  };
}

async function p3(): Promise<void> {
  log('P3 fan-in: 100 concurrent agents on one expired link');
  // One client shared by the agents (agents in one process: the same ExtauthClient the endpoint uses, without the
  // endpoint), one client per agent (agents on separate hosts), and the agent endpoint (docs/agent-api.md).
  const perAgent = Array.from({ length: SIZES.p3Agents }, () => new ExtauthClient(temporal, { taskQueue }));
  const endpoint = P3_VARIANTS.includes('endpoint') ? await agentEndpointVariant() : undefined;
  const endpointProcess = P3_VARIANTS.includes('endpoint-process') ? await agentEndpointProcessVariant() : undefined;
  const variants: FanInVariant[] = [
    ...(P3_VARIANTS.includes('shared') ? [{ label: 'shared-client', request: viaClient(() => extauth) }] : []),
    ...(P3_VARIANTS.includes('per-agent') ? [{ label: 'client-per-agent', request: viaClient((a) => perAgent[a]!) }] : []),
    ...(endpoint ? [endpoint.variant] : []),
    ...(endpointProcess ? [endpointProcess.variant] : []),
  ];
  let out: Map<string, FanInResult>;
  let processBreakdown: EndpointBreakdown | undefined;
  try {
    out = await fanIn(variants);
    processBreakdown = await endpointProcess?.breakdown();
  } finally {
    await Promise.all([endpoint?.close(), endpointProcess?.close()]);
  }
  const shared = out.get('shared-client');
  const separate = out.get('client-per-agent');
  const viaEndpoint = endpoint && { ...out.get(endpoint.variant.label)!, breakdown: endpoint.breakdown() };
  const viaEndpointProcess = endpointProcess && { ...out.get(endpointProcess.variant.label)!, breakdown: processBreakdown };
  const p2p50 = results.P2?.extauth?.p50 as number | undefined;
  const toP2 = (x?: FanInResult) => (p2p50 && x ? ratio(x.latency.p99, p2p50) : null);
  const ok = (x?: FanInResult) => !!p2p50 && !!x && x.latency.p99 / p2p50 <= 1.3 && x.exactlyOneExchange && x.failures.count === 0;
  results.P3 = {
    agents: SIZES.p3Agents,
    rounds: SIZES.p3Rounds,
    sharedClient: shared,
    clientPerAgent: separate,
    p2ExtauthP50: p2p50,
    ratio: toP2(shared),
    ratioClientPerAgent: toP2(separate),
    agentEndpoint: viaEndpoint,
    ratioAgentEndpoint: toP2(viaEndpoint),
    // What the endpoint adds to the same 100 requests through the one ExtauthClient, in the same run, rounds interleaved.
    endpointOverSharedClientP99Ms: viaEndpoint && shared ? round(viaEndpoint.latency.p99 - shared.latency.p99) : null,
    endpointOverSharedClientP50Ms: viaEndpoint && shared ? round(viaEndpoint.latency.p50 - shared.latency.p50) : null,
    metAgentEndpoint: ok(viaEndpoint),
    // The endpoint in a process of its own (as `extauth agent-endpoint` runs), apart from the agents and the provider.
    agentEndpointProcess: viaEndpointProcess,
    ratioAgentEndpointProcess: toP2(viaEndpointProcess),
    endpointProcessOverSharedClientP99Ms: viaEndpointProcess && shared ? round(viaEndpointProcess.latency.p99 - shared.latency.p99) : null,
    metAgentEndpointProcess: ok(viaEndpointProcess),
    goal: 1.3,
    met: ok(shared),
    metClientPerAgent: ok(separate),
  };
}

/** An agent's token request to the agent endpoint over its own connection: the access token, or an error. */
async function postToken(connection: UndiciClient, agentKey: string, user: string): Promise<string> {
  const answer = await connection.request({
    path: '/v1/token',
    method: 'POST',
    headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: PROVIDER_ID, user, minValidSeconds: 60 }),
  });
  const body = (await answer.body.json()) as { accessToken?: string; error?: string };
  if (answer.statusCode !== 200 || !body.accessToken) throw new Error(`agent endpoint answered ${answer.statusCode} ${body.error ?? ''}`);
  return body.accessToken;
}

/**
 * Through the agent endpoint (docs/agent-api.md), as agents on other hosts ask: each agent its own agent key and its own
 * HTTP connection; the endpoint is one Temporal client, so concurrent requests for the link share one getToken.
 */
async function agentEndpointVariant() {
  const timeline = new EndpointTimeline();
  const endpoint = await listenAgentEndpoint(
    { pool: timeline.pool(deps.pool), client: extauth, providers: [providerConfig], logger: createLogger(undefined, 'silent'), requests: createAgentRequestCounter(new Registry()) },
    { port: 0, host: '127.0.0.1' },
  );
  const connections = Array.from({ length: SIZES.p3Agents }, () => new UndiciClient(endpoint.url, { pipelining: 1 }));
  let keys: string[] = [];
  const variant: FanInVariant = {
    label: 'agent-endpoint',
    request: async (agent, user) => {
      timeline.sent(agent);
      return postToken(connections[agent]!, keys[agent]!, user).finally(() => timeline.answered(agent));
    },
    prepare: async (user) => {
      keys = await Promise.all(connections.map(async () => (await createAgentKey(deps.pool, key(user))).key));
      timeline.startRound(keys);
    },
  };
  return {
    variant,
    breakdown: () => timeline.summary(),
    close: async () => {
      await Promise.all(connections.map((c) => c.close()));
      await endpoint.close();
    },
  };
}

/** The agent endpoint in a child process of its own (bench/endpoint-child.ts); agents as in agentEndpointVariant. */
async function agentEndpointProcessVariant() {
  const child = fork(fileURLToPath(new URL('./endpoint-child.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting: ((a: EndpointChildAnswer) => void)[] = [];
  child.on('message', (a: EndpointChildAnswer) => {
    if (a.type === 'error') console.error(`endpoint child failed: ${a.message}`);
    waiting.shift()?.(a);
  });
  const ask = (req: EndpointChildRequest) =>
    new Promise<EndpointChildAnswer>((resolve) => {
      waiting.push(resolve);
      child.send(req);
    });
  const started = await ask({
    type: 'start',
    config: { temporalAddress: temporalServer.address, namespace: NAMESPACE, codecKey: formatCodecKey(codecKey), taskQueue, databaseUrl: postgres.databaseUrl, providers: [providerConfig] },
  });
  if (started.type !== 'ready') throw new Error(`endpoint child did not start: ${JSON.stringify(started)}`);
  const connections = Array.from({ length: SIZES.p3Agents }, () => new UndiciClient(started.url, { pipelining: 1 }));
  let keys: string[] = [];
  const sent: number[] = [];
  const answered: number[] = [];
  const variant: FanInVariant = {
    label: 'agent-endpoint-process',
    request: async (agent, user) => {
      sent[agent] = EndpointTimeline.now();
      return postToken(connections[agent]!, keys[agent]!, user).finally(() => (answered[agent] = EndpointTimeline.now()));
    },
    prepare: async (user) => {
      keys = await Promise.all(connections.map(async () => (await createAgentKey(deps.pool, key(user))).key));
      await ask({ type: 'round', keys });
    },
    finish: async () => void (await ask({ type: 'agentTimes', sent, answered })),
  };
  return {
    variant,
    breakdown: async () => {
      const a = await ask({ type: 'summary' });
      return a.type === 'summary' ? a.breakdown : undefined;
    },
    close: async () => {
      await Promise.all(connections.map((c) => c.close()));
      await ask({ type: 'stop' });
      child.disconnect();
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    },
  };
}

// ---------------------------------------------------------------------------------------------- P4

async function herd(label: string, users: string[], fn: (user: string) => Promise<unknown>): Promise<{ wallMs: number; failures: Failures; lost: number; throughput: number }> {
  const fail = failures();
  const t = await timed(() => withConcurrency(users.length, HERD_CONCURRENCY, (i) => counted(fail, () => fn(users[i]!))));
  const lost = await lostRotations(users);
  const out = { wallMs: Math.round(t), throughput: round(users.length / (t / 1000), 1), failures: fail, lost };
  log(`P4 ${label}: ${out.wallMs} ms, ${out.throughput}/s, failures ${fail.count}, lost rotations ${lost}`);
  return out;
}

async function p4(): Promise<void> {
  const n = SIZES.p4Links;
  log(`P4 the herd: ${n} links expiring together, concurrency ${HERD_CONCURRENCY}`);
  const refDeps = { pool: deps.pool, http: deps.http, provider: providerConfig };
  const reference = async (user: string) => {
    const r = await referenceGetToken(refDeps, key(user));
    if (!r.ok) throw new Error(r.error);
  };
  const sides: Record<string, any> = {};
  for (const faulty of [false, true]) {
    const tag = faulty ? 'f' : 'ok';
    const extUsers = Array.from({ length: n }, (_, i) => `p4-${tag}-ext-${i}`);
    const refUsers = Array.from({ length: n }, (_, i) => `p4-${tag}-ref-${i}`);
    await seedMany([...extUsers, ...refUsers], -10);
    if (faulty) {
      // 10% of validations answer 503 once: the first validation of every tenth link.
      for (const u of [...extUsers, ...refUsers].filter((_, i) => i % 10 === 0)) {
        provider.injectFault('validate', { kind: 'status', status: 503 }, { familyId: u, times: 1 });
      }
    }
    const bare = faulty ? undefined : await herd('bare engine, same shape', extUsers.map((_, i) => `p4-bare-${i}`), (id) => refreshShape(id, LATENCY_MS));
    const ext = await herd(`extauth${faulty ? ' 10% 503' : ''}`, extUsers, getToken);
    const ref = await herd(`reference${faulty ? ' 10% 503' : ''}`, refUsers, reference);
    sides[faulty ? 'validation503' : 'clean'] = {
      extauth: ext,
      reference: ref,
      ...(bare ? { bareEngine: bare } : {}),
      ratio: ratio(ext.wallMs, ref.wallMs),
      ...(bare ? { throughputToBareEngine: ratio(ext.throughput, bare.throughput) } : {}),
    };
  }
  const clean = sides.clean;
  const faulty = sides.validation503;
  results.P4 = {
    links: n,
    concurrency: HERD_CONCURRENCY,
    ...sides,
    ratio: clean.ratio,
    ratioWith503: faulty.ratio,
    throughputToBareEngine: clean.throughputToBareEngine,
    goals: { wallTimeRatio: 3, throughputToBareEngine: 0.8, failures: 0, lostRotations: 0 },
    met:
      clean.ratio <= 3 &&
      faulty.ratio <= 3 &&
      clean.throughputToBareEngine >= 0.8 &&
      clean.extauth.failures.count + faulty.extauth.failures.count === 0 &&
      clean.extauth.lost + faulty.extauth.lost === 0,
  };
}

// ---------------------------------------------------------------------------------------------- P5

async function p1p2Sample(users: string[], tag: string): Promise<{ p1: Summary; p2: Summary }> {
  const reads: number[] = [];
  for (let i = 0; i < SIZES.p5P1Samples; i++) {
    const u = users[Math.floor(Math.random() * users.length)]!;
    reads.push(await timed(() => getToken(u)));
  }
  const expired = Array.from({ length: SIZES.p5P2Samples }, (_, i) => `p5-${tag}-exp-${i}`);
  await seedMany(expired, -10);
  const refreshes: number[] = [];
  for (const u of expired) refreshes.push(await timed(() => getToken(u)));
  return { p1: summarize(reads), p2: summarize(refreshes) };
}

async function p5(): Promise<void> {
  log('P5 cost: history per refresh, worker RSS, P1/P2 at 100 and many links');
  // History of one cold refresh (a run opened by getToken on an expired link) and of a forced refresh on an open run.
  const cold = `p5-hist-cold`;
  await seed(cold, -10);
  await getToken(cold);
  const coldHistory = await history(linkWorkflowId(key(cold)));
  const warm = `p5-hist-warm`;
  await seed(warm, 3600);
  await getToken(warm);
  const before = await history(linkWorkflowId(key(warm)));
  await extauth.refresh({ provider: PROVIDER_ID, user: warm });
  const afterRefresh = await history(linkWorkflowId(key(warm)));
  await getToken(warm);
  const afterRead = await history(linkWorkflowId(key(warm)));

  // A fresh worker on its own task queue, so that earlier phases' runs do not count.
  await worker.stop();
  taskQueue = 'extauth-bench-p5';
  extauth = new ExtauthClient(temporal, { taskQueue });
  worker = await WorkerChild.start(taskQueue, false);
  const rssIdle = await worker.rssMB('idle');
  const users = Array.from({ length: SIZES.p5Links }, (_, i) => `p5-${i}`);
  await seedMany(users, 3600);
  const touch = async (from: number, to: number) => {
    const fail = failures();
    const t = await timed(() => withConcurrency(to - from, HERD_CONCURRENCY, (i) => counted(fail, () => getToken(users[from + i]!))));
    return { ms: Math.round(t), perSecond: round((to - from) / (t / 1000), 1), failures: fail };
  };
  const touch100 = await touch(0, 100);
  const at100 = await p1p2Sample(users.slice(0, 100), 'n100');
  const rss100 = await worker.rssMB('at100Links');
  const touchRest = await touch(100, users.length);
  const rssMany = await worker.rssMB(`at${users.length}Links`);
  const atMany = await p1p2Sample(users, `n${users.length}`);
  const rssEnd = await worker.rssMB('end');
  const extauthBreakdowns = worker.breakdowns;

  // The engine's own memory per cached run: a worker with only the bare floor workflow, touched the same way.
  await worker.stop();
  worker = await WorkerChild.start(taskQueue, true, false, 'extauth-bench-p5-bare');
  const bareIdle = await worker.rssMB();
  const bareRuns = Math.min(users.length, 1000);
  await withConcurrency(bareRuns, HERD_CONCURRENCY, (i) =>
    temporal.workflow.executeUpdateWithStart(noopUpdate, { args: [{ minValidSeconds: 60 }], startWorkflowOperation: floorStart(`p5-floor-${i}`, 'floorWorkflow', 'extauth-bench-p5-bare') }).then(() => undefined),
  );
  const bareAfter = await worker.rssMB();
  const flatP1 = ratio(atMany.p1.p50, at100.p1.p50);
  const flatP2 = ratio(atMany.p2.p50, at100.p2.p50);
  results.P5 = {
    historyPerColdRefresh: coldHistory,
    historyPerForcedRefreshOnOpenRun: { events: afterRefresh.events - before.events, bytes: afterRefresh.bytes - before.bytes },
    historyPerFreshRead: { events: afterRead.events - afterRefresh.events, bytes: afterRead.bytes - afterRefresh.bytes },
    workerRssMB: { idle: rssIdle, at100Links: rss100, [`at${users.length}Links`]: rssMany, end: rssEnd },
    workerMemoryBreakdown: extauthBreakdowns,
    // The child inherits this environment, so its cache is the one cacheOption gives here (worker/cache.ts).
    maxCachedWorkflows: cacheOption(undefined).maxCachedWorkflows ?? 'SDK default',
    workerEnv: { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX, NODE_OPTIONS: process.env.NODE_OPTIONS, BENCH_WORKER_NODE_FLAGS: process.env.BENCH_WORKER_NODE_FLAGS, BENCH_WORKER_UNTUNED: process.env.BENCH_WORKER_UNTUNED, BENCH_WORKER_BUNDLE: process.env.BENCH_WORKER_BUNDLE },
    extauthMBPerRunAbove100: round((rssMany - rss100) / (users.length - 100), 3),
    bareEngineWorkerRssMB: { idle: bareIdle, [`at${bareRuns}Runs`]: bareAfter, mbPerRun: round((bareAfter - bareIdle) / bareRuns, 3) },
    touchLinks: { first100: touch100, rest: touchRest },
    at100: at100,
    [`at${users.length}`]: atMany,
    p1Flatness: flatP1,
    p2Flatness: flatP2,
    ratio: Math.max(flatP1, flatP2),
    goals: { eventsPerRefresh: 20, workerRssMB: 300, flatness: 1.2 },
    met: coldHistory.events <= 20 && rssEnd <= 300 && flatP1 <= 1.2 && flatP2 <= 1.2,
  };
}

// ---------------------------------------------------------------------------------------------- run

let exitCode = 0;
try {
  if (runs('P1')) await p1();
  if (runs('P2')) await p2();
  if (runs('P3')) await p3();
  if (runs('P4')) await p4();
  if (runs('P5')) await p5();
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  results.machine.loadAverageAtEnd = loadavg().map((x) => round(x));
  // Workflow tasks the worker failed (e.g. nondeterminism on replay) are in its log, not in any latency.
  const workerLog = await readFile(join(dir, 'worker.log'), 'utf8').catch(() => '');
  results.workerLog = {
    failedWorkflowTasks: (workerLog.match(/Failing workflow task/g) ?? []).length,
    nondeterminismErrors: (workerLog.match(/Nondeterminism error/g) ?? []).length,
    firstNondeterminism: /Nondeterminism error: [^"\\]*/.exec(workerLog)?.[0],
  };
  results.durationSeconds = Math.round((Date.now() - started) / 1000);
  await writeFile(OUT, `${JSON.stringify(results, null, 2)}\n`);
  console.log(table(results));
  console.log(`\nwritten to ${OUT}`);
  // Calls that timed out in P3 may still be retrying inside the SDK: once the connection is closed they throw.
  process.on('uncaughtException', (err) => {
    if (/Channel has been shut down/.test(String(err?.message))) return;
    console.error(err);
    process.exit(1);
  });
  await worker.stop().catch(() => undefined);
  await Promise.allSettled([connection.close(), closeActivityDeps(deps), provider.close()]);
  await Promise.allSettled([temporalServer.stop(), postgres.stop()]);
  await rm(dir, { recursive: true, force: true });
}
process.exit(exitCode);

// ---------------------------------------------------------------------------------------------- table

function table(r: Record<string, any>): string {
  const rows: string[][] = [['', 'extauth', 'yardstick', 'ratio', 'goal', 'met']];
  const ms = (s?: Summary) => (s ? `${s.p50} / ${s.p99} ms` : '-');
  const yes = (b: unknown) => (b === undefined ? '-' : b ? 'yes' : 'NO');
  if (r.P1) {
    rows.push(['P1 fresh token p50/p99', ms(r.P1.extauth), `no-op Update ${ms(r.P1.floorNoopUpdate)}`, `${r.P1.ratio}`, '≤ 1.2', yes(r.P1.met)]);
    rows.push(['P1   (UwS no-op floor)', '', ms(r.P1.floorNoopUpdateWithStart), `${r.P1.ratioToUpdateWithStartFloor}`, '', '']);
    rows.push(['P1   (no-op Query floor)', '', ms(r.P1.floorNoopQuery), `${r.P1.ratioToQueryFloor}`, '', '']);
    rows.push(['P1   history events per read', `${r.P1.historyEventsPerFreshRead}`, `${r.P1.floorHistoryEventsPerNoopUpdate}`, '', 'best 0', '']);
  }
  if (r.P2) {
    rows.push([`P2 refresh @${r.P2.providerLatencyMs} ms p50/p99`, ms(r.P2.extauth), `plain code ${ms(r.P2.plainCode)}`, `${r.P2.ratio}`, '≤ 1.2', yes(r.P2.met)]);
    rows.push(['P2   vs bare 3-activity workflow', '', ms(r.P2.bareThreeActivityWorkflow), `${r.P2.ratioToBareWorkflow}`, '', '']);
    rows.push(['P2 refresh @0 ms p50/p99', ms(r.P2.at0ms.extauth), `plain code ${ms(r.P2.at0ms.plainCode)}`, `${r.P2.at0ms.ratio}`, '(report)', '']);
    rows.push(['P2   @0 ms vs bare workflow', '', ms(r.P2.at0ms.bareThreeActivityWorkflow), `${r.P2.at0ms.ratioToBareWorkflow}`, '', '']);
  }
  if (r.P2?.breakdown) {
    const { extauth: e, bareThreeActivityWorkflow: b, plainCodeSteps: p } = r.P2.breakdown;
    for (const segment of REFRESH_SEGMENTS) {
      rows.push([`P2   ${segment} p50 (mean)`, `${e[segment].p50} (${e[segment].mean}) ms`, `bare ${b[segment].p50} (${b[segment].mean}) ms`, `+${round(e[segment].mean - b[segment].mean, 1)}`, '', '']);
    }
    const step = (k: string) => `${k} ${p[k].p50}`;
    for (const [label, x] of Object.entries<Summary>(r.P2.breakdown.workerIo ?? {})) {
      rows.push([`P2   worker ${label} p50 (mean)`, `${x.p50} (${x.mean}) ms`, `n ${x.n}`, '', '', '']);
    }
    rows.push(['P2   plain code steps p50 ms', ['load', 'exchange', 'persist', 'validate'].map(step).join(', '), `${step('noRunQuery')}; AES-GCM ${r.P2.codecMicrosPerPayload} µs/payload`, '', '', '']);
  }
  if (r.P3) {
    for (const [name, v, rt] of [
      ['shared client', r.P3.sharedClient, r.P3.ratio],
      ['client per agent', r.P3.clientPerAgent, r.P3.ratioClientPerAgent],
      ['agent endpoint, connection per agent', r.P3.agentEndpoint, r.P3.ratioAgentEndpoint],
      ['endpoint in its own process', r.P3.agentEndpointProcess, r.P3.ratioAgentEndpointProcess],
    ] as const) {
      if (!v) continue;
      rows.push([`P3 fan-in ${r.P3.agents} (${name}) p99`, `${v.latency.p99} ms`, `P2 p50 ${r.P3.p2ExtauthP50} ms`, `${rt}`, '≤ 1.3', yes(rt === null ? undefined : rt <= 1.3)]);
      rows.push(['P3   exchanges per round', v.exchangesPerRound.join(','), '', '', '= 1', yes(v.exactlyOneExchange)]);
    }
    for (const [name, b] of [['endpoint', r.P3.agentEndpoint?.breakdown], ['own process', r.P3.agentEndpointProcess?.breakdown]] as const) {
      if (!b) continue;
      const seg = (x: Summary) => `${x.p50}/${x.p99}`;
      rows.push([`P3   ${name} apart, p50/p99 ms`, `in ${seg(b.requestIn)}; key ${seg(b.lookupPoolWait)} wait + ${seg(b.lookupSql)} sql`, `token ${seg(b.tokenWait)}; audit ${seg(b.auditPoolWait)} wait + ${seg(b.auditSql)} sql; out ${seg(b.answerOut)}`, '', '', '']);
    }
  }
  if (r.P4) {
    for (const [name, s] of [['clean', r.P4.clean], ['10% 503', r.P4.validation503]] as const) {
      rows.push([`P4 herd ${r.P4.links} (${name}) wall`, `${s.extauth.wallMs} ms`, `reference ${s.reference.wallMs} ms`, `${s.ratio}`, '≤ 3', '']);
      rows.push(['P4   failures / lost rotations', `${s.extauth.failures.count} / ${s.extauth.lost}`, `${s.reference.failures.count} / ${s.reference.lost}`, '', '0 / 0', yes(s.extauth.failures.count + s.extauth.lost === 0)]);
    }
    rows.push(['P4   throughput vs bare engine', `${r.P4.clean.extauth.throughput}/s`, `${r.P4.clean.bareEngine.throughput}/s`, `${r.P4.throughputToBareEngine}`, '≥ 0.8', '']);
    rows.push(['P4 all goals', '', '', '', '', yes(r.P4.met)]);
  }
  if (r.P5) {
    const many = Object.keys(r.P5).find((k) => /^at\d+$/.test(k) && k !== 'at100')!;
    rows.push(['P5 history per cold refresh', `${r.P5.historyPerColdRefresh.events} ev, ${r.P5.historyPerColdRefresh.bytes} B`, '', '', '≤ 20 ev', yes(r.P5.historyPerColdRefresh.events <= 20)]);
    rows.push(['P5   per forced refresh / fresh read', `${r.P5.historyPerForcedRefreshOnOpenRun.events} ev / ${r.P5.historyPerFreshRead.events} ev`, '', '', '', '']);
    const rssKey = Object.keys(r.P5.workerRssMB).find((k) => /^at\d+Links$/.test(k) && k !== 'at100Links')!;
    rows.push([`P5 worker RSS (${rssKey.replace(/\D/g, '')} links)`, `${r.P5.workerRssMB[rssKey]} MB (end ${r.P5.workerRssMB.end})`, `idle ${r.P5.workerRssMB.idle} MB`, '', '≤ 300 MB', yes(r.P5.workerRssMB.end <= 300)]);
    rows.push(['P5   MB per cached run', `${r.P5.extauthMBPerRunAbove100} MB`, `bare engine ${r.P5.bareEngineWorkerRssMB.mbPerRun} MB (idle ${r.P5.bareEngineWorkerRssMB.idle} MB)`, '', '', '']);
    rows.push([`P5 P1 p50 at 100 / ${many.slice(2)}`, `${r.P5.at100.p1.p50} / ${r.P5[many].p1.p50} ms`, '', `${r.P5.p1Flatness}`, '≤ 1.2', yes(r.P5.p1Flatness <= 1.2)]);
    rows.push([`P5 P2 p50 at 100 / ${many.slice(2)}`, `${r.P5.at100.p2.p50} / ${r.P5[many].p2.p50} ms`, '', `${r.P5.p2Flatness}`, '≤ 1.2', yes(r.P5.p2Flatness <= 1.2)]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length)));
  const line = (row: string[]) => `| ${row.map((cell, c) => (cell ?? '').padEnd(widths[c]!)).join(' | ')} |`;
  const m = r.machine;
  return [
    `extauth bench — ${m.cpus} × ${m.cpuModel}, ${m.memoryGB} GB, Node ${m.node}; provider latency ${r.providerLatencyMs} ms; ${r.quick ? 'quick' : 'full'}; load ${m.loadAverageAtStart.join(' ')} → ${m.loadAverageAtEnd?.join(' ')}`,
    line(rows[0]!),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.slice(1).map(line),
    `worker log: ${r.workerLog?.failedWorkflowTasks ?? 0} failed workflow tasks, ${r.workerLog?.nondeterminismErrors ?? 0} nondeterminism errors${r.workerLog?.firstNondeterminism ? ` (${r.workerLog.firstNondeterminism})` : ''}`,
  ].join('\n');
}
