// The worker process of the benchmark: extauth's production worker (createExtauthWorker, codec on) and,
// on its own task queue, the bare engine-floor worker. A separate process, so that its RSS is its own.
import { NativeConnection, Worker } from '@temporalio/worker';
import { extauthDataConverter } from '../codec/data-converter.js';
import { makeCodecKeys, parseCodecKey } from '../codec/keys.js';
import { TokenSealer } from '../codec/seal.js';
import { createLogger, installTemporalLogging, privateLogDestination } from '../config/logger.js';
import type { ProviderConfig } from '../providers/config.js';
import { createExtauthWorker } from '../worker.js';
import { closeActivityDeps, createActivityDeps } from '../worker/activity-deps.js';
import { tuneWorkflowThreadMemory } from '../worker/memory.js';
import { bareActivities } from './engine/activities.js';
import { IoTimer } from './io-timer.js';
import { memoryBreakdown, type MemoryBreakdown } from './memory-breakdown.js';
import type { Summary } from './stats.js';

export interface ChildConfig {
  temporalAddress: string;
  databaseUrl: string;
  providers: ProviderConfig[];
  codecKey: string;
  /** EXTAUTH_WORKER_KEY of the extauth worker. */
  workerKey: string;
  taskQueue: string;
  bareTaskQueue: string;
  extauthBundlePath: string;
  bareBundlePath: string;
  logFile: string;
  /** Also run the bare engine-floor worker (off for the RSS measurement, so that RSS is extauth's alone). */
  bare: boolean;
  /** Run extauth's worker (off only to measure the bare engine's memory per cached run). */
  extauth: boolean;
}

export type ChildRequest = { type: 'start'; config: ChildConfig } | { type: 'rss' } | { type: 'io' } | { type: 'stop' };
export type ChildAnswer =
  | { type: 'ready' }
  | { type: 'rss'; rss: number; heapUsed: number; breakdown: MemoryBreakdown }
  | { type: 'io'; io: Record<string, Summary> }
  | { type: 'stopped' }
  | { type: 'error'; message: string };

const send = (answer: ChildAnswer): void => void process.send!(answer);
/** The activities' Postgres statements and provider calls, timed for P2's breakdown (`io` takes them). */
const io = new IoTimer();
let stop: (() => Promise<void>) | undefined;

process.on('message', (msg: ChildRequest) => {
  void handle(msg).catch((err) => send({ type: 'error', message: (err as Error).stack ?? String(err) }));
});
process.on('disconnect', () => void stop?.().finally(() => process.exit(0)));

async function handle(msg: ChildRequest): Promise<void> {
  if (msg.type === 'rss') {
    global.gc?.();
    const m = process.memoryUsage();
    return send({ type: 'rss', rss: m.rss, heapUsed: m.heapUsed, breakdown: memoryBreakdown() });
  }
  if (msg.type === 'io') return send({ type: 'io', io: io.take() });
  if (msg.type === 'stop') {
    await stop?.();
    send({ type: 'stopped' });
    return;
  }
  const c = msg.config;
  // As `extauth worker` does (worker/process.ts); BENCH_WORKER_NODE_FLAGS gives the main isolate its command-line flags.
  // BENCH_WORKER_UNTUNED=1 leaves V8's defaults, for the before/after figures.
  if (process.env.BENCH_WORKER_UNTUNED !== '1') tuneWorkflowThreadMemory();
  const logger = createLogger(privateLogDestination(c.logFile), 'warn');
  installTemporalLogging(logger, 'WARN');
  const sealer = new TokenSealer(makeCodecKeys(parseCodecKey(c.workerKey, 'workerKey')));
  const deps = createActivityDeps({ databaseUrl: c.databaseUrl, providers: c.providers, logger, cipher: null, sealer });
  deps.pool = io.pool(deps.pool);
  io.http();
  const connection = await NativeConnection.connect({ address: c.temporalAddress });
  const codecKeys = makeCodecKeys(parseCodecKey(c.codecKey, 'codecKey'));
  const extauth = !c.extauth ? undefined : await createExtauthWorker({
    connection,
    namespace: 'default',
    taskQueue: c.taskQueue,
    deps,
    codecKeys,
    // BENCH_WORKER_BUNDLE=in-process: the worker bundles its workflows itself, as `extauth worker` did before worker/bundle.ts.
    ...(process.env.BENCH_WORKER_BUNDLE === 'in-process' ? {} : { workflowBundle: { codePath: c.extauthBundlePath } }),
  });
  const bare = !c.bare ? undefined : await Worker.create({
    connection,
    namespace: 'default',
    taskQueue: c.bareTaskQueue,
    activities: bareActivities,
    dataConverter: extauthDataConverter(codecKeys),
    workflowBundle: { codePath: c.bareBundlePath },
  });
  const running = Promise.all([extauth?.run(), bare?.run()]);
  stop = async () => {
    stop = undefined;
    extauth?.shutdown();
    bare?.shutdown();
    await running;
    await Promise.allSettled([connection.close(), closeActivityDeps(deps)]);
  };
  send({ type: 'ready' });
}
