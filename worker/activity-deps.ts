// What the activities run on: the database pool, the providers, the provider HTTP client, keys and metrics.
import { Agent } from 'undici';
import pg from 'pg';
import type { Logger } from 'pino';
import type { ActivityDeps } from '../activities/index.js';
import { tokenSealerFromEnv, type TokenSealer } from '../codec/seal.js';
import { ProviderRegistry, type ProviderConfig } from '../providers/config.js';
import { tokenCipherForProcess } from '../store/db-key.js';
import type { TokenCipher } from '../store/token-cipher.js';
import { WebhookRegistry, type WebhookEndpoint } from '../config/webhooks.js';
import { createMetrics } from './metrics.js';

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
