// A running worker with its companions: the recovery sweep, the keep-alive schedule, and clean stopping.
import { NativeConnection, type Worker, type WorkflowBundleOption } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { ActivityDeps } from '../activities/index.js';
import { ExtauthClient } from '../client/index.js';
import type { CodecKeys } from '../codec/keys.js';
import type { WebhookEndpoint } from '../config/webhooks.js';
import type { TokenSealer } from '../codec/seal.js';
import { temporalConnectionOptions } from '../config/temporal-connection.js';
import type { ProviderConfig } from '../providers/config.js';
import type { TokenCipher } from '../store/token-cipher.js';
import { createExtauthWorker } from '../worker.js';
import { closeActivityDeps, createActivityDeps } from './activity-deps.js';
import { ensureKeepAliveSchedule } from './keep-alive-schedule.js';
import type { ExtauthMetrics } from './metrics.js';
import { startRecoverySweep } from './recovery-sweep.js';

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
  /** A prebuilt workflow bundle (worker/bundle.ts); by default the worker bundles the workflows itself. */
  workflowBundle?: WorkflowBundleOption;
}): Promise<LaunchedWorker> {
  const deps = createActivityDeps({ ...options, cipher: options.cipher ?? null });
  const connection = await NativeConnection.connect(temporalConnectionOptions(options.temporalAddress));
  const worker = await createExtauthWorker({
    connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    deps,
    codecKeys: options.codecKeys,
    workflowBundle: options.workflowBundle,
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
 * The worker's share of recovery (worker/recovery-sweep.ts): stuck link runs of its task queue are ended and
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
