// `extauth worker`: one worker process against the configured Temporal server and database.
import { codecKeysFromEnv } from '../codec/keys.js';
import { readEnv, resolveEndpoints, ConfigError } from '../config/env.js';
import { createLogger, installTemporalLogging } from '../config/logger.js';
import { loadProvidersFile } from '../providers/config.js';
import { launchWorker } from '../worker.js';

export async function runWorkerProcess(): Promise<number> {
  const endpoints = resolveEndpoints(readEnv());
  if (!endpoints.databaseUrl) throw new ConfigError('no database: set DATABASE_URL (postgres://...)');
  if (!endpoints.providersFile) throw new ConfigError('no providers: set EXTAUTH_PROVIDERS to a JSON file of providers (see README)');
  const providers = loadProvidersFile(endpoints.providersFile);
  const logger = createLogger();
  // The Temporal runtime drains the worker on SIGINT/SIGTERM; run() resolves once it has.
  installTemporalLogging(logger);
  const codecKeys = codecKeysFromEnv(process.env, endpoints.codecKeyFile);
  const launched = await launchWorker({ ...endpoints, databaseUrl: endpoints.databaseUrl, providers, logger, codecKeys });
  logger.info({ taskQueue: endpoints.taskQueue, providers: providers.map((p) => p.id) }, 'worker started');
  await launched.done;
  logger.info('worker stopped');
  return 0;
}
