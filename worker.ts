// Creates the extauth worker: connection, task queue, workflow bundle and activities wired to their dependencies.
import proto from '@temporalio/proto';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions, type WorkflowBundleOption } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import pg from 'pg';
import type { Logger } from 'pino';
import { extauthDataConverter, FAILURE_CONVERTER_PATH } from './codec/data-converter.js';
import { createMetrics, type ExtauthMetrics } from './config/metrics.js';
import { WebhookRegistry, type WebhookEndpoint } from './config/webhooks.js';
import { temporalConnectionOptions } from './config/temporal-connection.js';
import type { CodecKeys } from './codec/keys.js';
import { assertWorkerKeyApart, tokenSealerFromEnv, type TokenSealer } from './codec/seal.js';
import { createActivities, type ActivityDeps } from './activities/index.js';
import { tokenCipherForProcess } from './store/db-key.js';
import type { TokenCipher } from './store/token-cipher.js';
import { ProviderRegistry, type ProviderConfig } from './providers/config.js';
import { EXTAUTH_SEARCH_ATTRIBUTES } from './workflows/search-attributes.js';
import { DEFAULT_TUNING } from './workflows/policies.js';
import { ExtauthClient } from './client/index.js';
import { startRecoverySweep } from './client/recovery-sweep.js';
import { ensureKeepAliveSchedule } from './client/keep-alive-schedule.js';
import { WORKFLOW_FAILURE_ERROR_TYPES } from './sdk-workarounds.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('./workflows/index.ts', import.meta.url));

/** Bundles the workflows ahead of time (tests, recorder, benchmarks), with the failure converter workers use. */
export async function bundleLinkWorkflows(workflowsPath = WORKFLOWS_PATH): Promise<string> {
  const quiet = () => undefined;
  const logger = { trace: quiet, debug: quiet, info: quiet, log: quiet, warn: (m: string) => console.warn(m), error: (m: string) => console.error(m) };
  const { code } = await bundleWorkflowCode({ workflowsPath, failureConverterPath: FAILURE_CONVERTER_PATH, logger });
  return code;
}

export interface ExtauthWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** Undefined only in the test that proves plaintext checks can fail: production always encrypts. */
  codecKeys: CodecKeys | undefined;
  /** A prebuilt bundle, as code or a file path (tests build one per run); by default the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleOption;
  /** Runs kept in memory (default: cacheOption below). */
  maxCachedWorkflows?: number;
  /** false only in the control of test/faults/nondeterminism.test.ts, which proves that test can fail: production always fails such a run. */
  failOnNondeterminism?: boolean;
}

/**
 * A worker asked to stop (SIGTERM: a deploy, a scale-down; SIGINT) stops polling and lets the activities it runs
 * finish, so that Temporal records their results: an exchange's answer is the only copy of a rotated refresh token,
 * and a worker killed before reporting it loses that rotation (docs/reliability.md). After the grace the SDK asks the
 * activities still running to cancel; extauth's activities do not abort on it (an exchange must never abandon a
 * request the provider may already have answered), so each still ends by its own deadline, an exchange attempt
 * within DEFAULT_TUNING.exchangeAttemptMs (15 s). Deploys must leave at least 30 s between SIGTERM and SIGKILL
 * (docs/operations.md, "Stopping and deploys").
 */
export const WORKER_SHUTDOWN_GRACE_MS = DEFAULT_TUNING.exchangeAttemptMs + 5_000;
export const WORKER_SHUTDOWN_OPTIONS = { shutdownGraceTime: WORKER_SHUTDOWN_GRACE_MS } satisfies Partial<WorkerOptions>;

// A run whose history cannot be replayed fails instead of retrying its task forever (sdk-workarounds.ts, 2).
export { WORKFLOW_FAILURE_ERROR_TYPES };

export async function createExtauthWorker(options: ExtauthWorkerOptions): Promise<Worker> {
  assertWorkerKeyApart(options.deps.sealer, options.codecKeys);
  await ensureSearchAttributes(options.connection, options.namespace);
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities(options.deps),
    ...(options.codecKeys ? { dataConverter: extauthDataConverter(options.codecKeys) } : {}),
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    ...cacheOption(options.maxCachedWorkflows),
    ...WORKER_SHUTDOWN_OPTIONS,
    ...(options.failOnNondeterminism === false ? {} : { workflowFailureErrorTypes: WORKFLOW_FAILURE_ERROR_TYPES }),
  });
}

/** bench P5 (docs/performance.md): an idle worker's RSS, and what each cached link run adds to it (the engine's share). */
const WORKER_IDLE_RSS_MB = 230;
const RSS_MB_PER_CACHED_RUN = 0.3;
/** The SDK's own floor for its default. */
const MIN_CACHED_WORKFLOWS = 10;

/** Link runs a worker can keep in memory within `memoryMB` of RSS: an evicted run is replayed on its next task. */
export function cachedWorkflowsWithin(memoryMB: number): number {
  return Math.max(MIN_CACHED_WORKFLOWS, Math.floor((memoryMB - WORKER_IDLE_RSS_MB) / RSS_MB_PER_CACHED_RUN));
}

/**
 * The workflow cache: `explicit`, else EXTAUTH_MAX_CACHED_WORKFLOWS, else sized from a memory budget
 * (EXTAUTH_WORKER_MEMORY_MB, else half the container's memory limit when there is one), else the SDK's default
 * (from the V8 heap limit, which ignores a container's limit).
 */
export function cacheOption(explicit: number | undefined, env: NodeJS.ProcessEnv = process.env, containerLimitBytes = process.constrainedMemory?.() ?? 0): { maxCachedWorkflows?: number } {
  const fromEnv = env.EXTAUTH_MAX_CACHED_WORKFLOWS;
  const value = explicit ?? (fromEnv ? Number(fromEnv) : undefined);
  if (value !== undefined) {
    if (!Number.isInteger(value) || value < 0) throw new Error(`EXTAUTH_MAX_CACHED_WORKFLOWS must be a non-negative integer, got ${fromEnv}`);
    return { maxCachedWorkflows: value };
  }
  const budget = env.EXTAUTH_WORKER_MEMORY_MB;
  if (budget) {
    const mb = Number(budget);
    if (!Number.isInteger(mb) || mb <= WORKER_IDLE_RSS_MB) throw new Error(`EXTAUTH_WORKER_MEMORY_MB must be an integer above ${WORKER_IDLE_RSS_MB} (MB of worker RSS), got ${budget}`);
    return { maxCachedWorkflows: cachedWorkflowsWithin(mb) };
  }
  // A container limit (cgroup): half of it for the cache's runs and the worker, the rest for activities' peaks.
  if (containerLimitBytes > 0 && containerLimitBytes < Number.MAX_SAFE_INTEGER) return { maxCachedWorkflows: cachedWorkflowsWithin(containerLimitBytes / 2 / 2 ** 20) };
  return {};
}

/**
 * Registers extauth's search attributes on the namespace if missing: the workflow upserts them, and an
 * unknown one would fail every workflow task of every link.
 */
export async function ensureSearchAttributes(connection: NativeConnection, namespace: string): Promise<void> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = EXTAUTH_SEARCH_ATTRIBUTES.filter((key) => !customAttributes?.[key.name]);
  if (missing.length === 0) return;
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((key) => [key.name, proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
    });
  } catch (err) {
    if (await registered(connection, namespace, missing)) return; // another worker added them meanwhile
    const commands = missing.map((key) => `temporal operator search-attribute create --namespace ${namespace} --name ${key.name} --type Keyword`);
    throw new Error(`search attributes ${missing.map((k) => k.name).join(', ')} are missing and could not be added (${(err as Error).message}); register them:\n  ${commands.join('\n  ')}`);
  }
}

async function registered(connection: NativeConnection, namespace: string, keys: typeof EXTAUTH_SEARCH_ATTRIBUTES): Promise<boolean> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  return keys.every((key) => customAttributes?.[key.name]);
}

/** HTTP client for providers: explicit connect timeout; per-request deadlines are set by each call. */
export function createProviderHttpClient(): Agent {
  return new Agent({ connect: { timeout: 5_000 }, keepAliveTimeout: 30_000, connections: 64 });
}

/**
 * `cipher`: the token-column cipher; null means plaintext (scripts and the tests' controls only); undefined applies
 * the rule of store/db-key.ts to the process environment (EXTAUTH_DB_KEY, else refuse unless EXTAUTH_DB_PLAINTEXT=allow).
 * `sealer`: the worker key's sealer; undefined reads EXTAUTH_WORKER_KEY / EXTAUTH_WORKER_DECRYPT_KEYS, and a worker
 * refuses to start without one.
 */
export function createActivityDeps(options: {
  databaseUrl: string;
  providers: ProviderConfig[];
  logger: Logger;
  cipher?: TokenCipher | null;
  sealer?: TokenSealer;
  /** Where link events are posted (config/webhooks.ts); none by default. */
  webhooks?: WebhookEndpoint[];
}): ActivityDeps {
  const cipher = options.cipher === undefined ? tokenCipherForProcess(process.env, 'the extauth worker') : (options.cipher ?? undefined);
  const sealer = options.sealer ?? tokenSealerFromEnv(process.env);
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10, connectionTimeoutMillis: 5_000 });
  // An idle client losing its connection (database restart) must not crash the worker.
  pool.on('error', (err) => options.logger.warn({ cause: err.message }, 'idle database connection failed'));
  return {
    pool,
    providers: new ProviderRegistry(options.providers),
    http: createProviderHttpClient(),
    logger: options.logger,
    cipher,
    sealer,
    metrics: createMetrics(pool, options.providers),
    webhooks: new WebhookRegistry(options.webhooks),
  };
}

export async function closeActivityDeps(deps: ActivityDeps): Promise<void> {
  await Promise.allSettled([deps.pool.end(), deps.http.close()]);
}

export interface LaunchedWorker {
  worker: Worker;
  metrics: ExtauthMetrics;
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/** Connects, creates and runs a worker; `stop()` drains it and releases connections and pools. */
export async function launchWorker(options: {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  databaseUrl: string;
  providers: ProviderConfig[];
  logger: Logger;
  codecKeys: CodecKeys;
  sealer: TokenSealer;
  /** The token-column cipher the process resolved (store/db-key.ts); undefined: plaintext, opted out explicitly. */
  cipher: TokenCipher | undefined;
  webhooks?: WebhookEndpoint[];
}): Promise<LaunchedWorker> {
  const deps = createActivityDeps({ ...options, cipher: options.cipher ?? null });
  const connection = await NativeConnection.connect(temporalConnectionOptions(options.temporalAddress));
  const worker = await createExtauthWorker({
    connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    deps,
    codecKeys: options.codecKeys,
  });
  await startKeepAlive(worker, deps, options).catch(async (err) => {
    await Promise.allSettled([connection.close(), closeActivityDeps(deps)]);
    throw err;
  });
  const sweep = startWorkerSweep(worker, deps, options);
  const done = worker.run().finally(async () => {
    await sweep.stop();
    await Promise.allSettled([connection.close(), closeActivityDeps(deps)]);
  });
  return {
    worker,
    metrics: deps.metrics,
    done,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

/**
 * The worker's share of recovery (client/recovery-sweep.ts): stuck link runs of its task queue are ended and
 * replaced, and links of its providers whose run ended between an exchange's answer and persist get a run opened.
 */
export function startWorkerSweep(
  worker: Worker,
  deps: ActivityDeps,
  options: { taskQueue: string; logger: Logger; intervalMs?: number },
): { stop(): Promise<void> } {
  const temporal = worker.client;
  if (!temporal) throw new Error('the worker has no client: it was created without a connection');
  return startRecoverySweep({
    pool: deps.pool,
    temporal,
    extauth: new ExtauthClient(temporal, { taskQueue: options.taskQueue }),
    logger: options.logger,
    taskQueue: options.taskQueue,
    providerIds: deps.providers.ids(),
    intervalMs: options.intervalMs,
  });
}

/**
 * Keep-alive for links nobody asks for (activities/keep-alive.ts): the sweep's activity opens link runs with the
 * worker's own client, and the schedule that starts the sweep is created if missing.
 */
async function startKeepAlive(worker: Worker, deps: ActivityDeps, options: { taskQueue: string; logger: Logger }): Promise<void> {
  const temporal = worker.client;
  if (!temporal) throw new Error('the worker has no client: it was created without a connection');
  deps.extauth = new ExtauthClient(temporal, { taskQueue: options.taskQueue });
  try {
    await ensureKeepAliveSchedule(temporal, options.taskQueue, options.logger);
  } catch (err) {
    throw new Error(`the keep-alive schedule could not be created (${(err as Error).message}); idle links would not be kept alive: check that the worker may create schedules in its namespace`);
  }
}
