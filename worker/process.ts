// `extauth worker`: one worker process against the configured Temporal server and database.
import { codecKeysFromEnv } from '../codec/keys.js';
import { tokenSealerFromEnv } from '../codec/seal.js';
import { readEnv, resolveEndpoints, ConfigError } from '../config/env.js';
import { createLogger, installTemporalLogging } from '../config/logger.js';
import { loadProvidersFile } from '../providers/config.js';
import { WORKER_SHUTDOWN_GRACE_MS } from '../worker.js';
import { launchWorker } from '../worker/launch.js';
import { loadWebhookEndpoints } from '../config/webhooks.js';
import { listenForStop } from '../config/stop-signals.js';
import { serveMetrics } from './metrics.js';
import { getFreePort } from '../dev/ports.js';
import { tokenCipherForProcess } from '../store/db-key.js';
import { tuneWorkflowThreadMemory } from './memory.js';
import { bundleWorkflowsInChild } from './bundle.js';

export async function runWorkerProcess(): Promise<number> {
  const env = readEnv();
  const endpoints = resolveEndpoints(env);
  if (!endpoints.databaseUrl) throw new ConfigError('no database: set DATABASE_URL (postgres://...)');
  if (!endpoints.providersFile) throw new ConfigError('no providers: set EXTAUTH_PROVIDERS to a JSON file of providers (see README)');
  // Before anything connects: a worker without the database key (and no explicit opt-out) must not start.
  const cipher = tokenCipherForProcess(process.env, 'extauth worker', endpoints.dbKeyFile);
  const providers = loadProvidersFile(endpoints.providersFile);
  const webhooks = loadWebhookEndpoints(process.env, endpoints.providersFile);
  const logger = createLogger();
  // SIGINT/SIGTERM drain the worker (WORKER_SHUTDOWN_GRACE_MS, worker.ts); a repeated signal must not cut the drain short.
  const stop = listenForStop((msg) => logger.warn({ step: 'shutdown' }, msg));
  const sdkMetricsPort = env.EXTAUTH_METRICS_PORT ? await getFreePort() : undefined;
  installTemporalLogging(logger, 'WARN', [], sdkMetricsPort ? `127.0.0.1:${sdkMetricsPort}` : undefined);
  const codecKeys = codecKeysFromEnv(process.env, endpoints.codecKeyFile);
  const sealer = tokenSealerFromEnv(process.env, endpoints.workerKeyFile);
  // Before the worker creates its workflow thread: that isolate holds the cached link runs (worker/memory.ts).
  tuneWorkflowThreadMemory();
  const workflowBundle = { code: await bundleWorkflowsInChild() };
  const launched = await launchWorker({ ...endpoints, databaseUrl: endpoints.databaseUrl, providers, logger, codecKeys, cipher, sealer, webhooks, workflowBundle });
  if (env.EXTAUTH_METRICS_PORT) {
    await serveMetrics({
      port: env.EXTAUTH_METRICS_PORT,
      metrics: launched.metrics,
      sdkMetricsUrl: `http://127.0.0.1:${sdkMetricsPort}/metrics`,
      healthy: () => launched.worker.getState() === 'RUNNING',
    }).then(
      () => logger.info({ url: `http://127.0.0.1:${env.EXTAUTH_METRICS_PORT}/metrics` }, 'serving metrics'),
      (err) => logger.warn({ cause: (err as Error).message, port: env.EXTAUTH_METRICS_PORT }, 'cannot serve metrics; set EXTAUTH_METRICS_PORT to a free port (0 turns metrics off)'),
    );
  }
  logger.info({ taskQueue: endpoints.taskQueue, providers: providers.map((p) => p.id), webhooks: webhooks.map((w) => w.name) }, 'worker started');
  stop.onStop((reason) => {
    logger.info({ reason, graceMs: WORKER_SHUTDOWN_GRACE_MS }, 'worker stopping: no new tasks, in-flight activities finish and are recorded');
    void launched.stop();
  });
  await launched.done;
  logger.info('worker stopped');
  return 0;
}
