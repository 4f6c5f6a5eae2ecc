// Creates the extauth worker: connection, task queue, workflow bundle and activities wired to their dependencies.
import { NativeConnection, Worker } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import pg from 'pg';
import type { Logger } from 'pino';
import { extauthDataConverter } from './codec/data-converter.js';
import type { CodecKeys } from './codec/keys.js';
import { createActivities, type ActivityDeps } from './activities/index.js';
import { ProviderRegistry, type ProviderConfig } from './providers/config.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('./workflows/index.ts', import.meta.url));

export interface ExtauthWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** Undefined only in the test that proves plaintext checks can fail: production always encrypts. */
  codecKeys: CodecKeys | undefined;
  /** A prebuilt bundle (tests build one per run); by default the workflows are bundled at start. */
  workflowBundlePath?: string;
}

export function createExtauthWorker(options: ExtauthWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities(options.deps),
    ...(options.codecKeys ? { dataConverter: extauthDataConverter(options.codecKeys) } : {}),
    ...(options.workflowBundlePath ? { workflowBundle: { codePath: options.workflowBundlePath } } : { workflowsPath: WORKFLOWS_PATH }),
  });
}

/** HTTP client for providers: explicit connect timeout; per-request deadlines are set by each call. */
export function createProviderHttpClient(): Agent {
  return new Agent({ connect: { timeout: 5_000 }, keepAliveTimeout: 30_000, connections: 64 });
}

export function createActivityDeps(options: { databaseUrl: string; providers: ProviderConfig[]; logger: Logger }): ActivityDeps {
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10, connectionTimeoutMillis: 5_000 });
  // An idle client losing its connection (database restart) must not crash the worker.
  pool.on('error', (err) => options.logger.warn({ cause: err.message }, 'idle database connection failed'));
  return { pool, providers: new ProviderRegistry(options.providers), http: createProviderHttpClient(), logger: options.logger };
}

export async function closeActivityDeps(deps: ActivityDeps): Promise<void> {
  await Promise.allSettled([deps.pool.end(), deps.http.close()]);
}

export interface LaunchedWorker {
  worker: Worker;
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
}): Promise<LaunchedWorker> {
  const deps = createActivityDeps(options);
  const connection = await NativeConnection.connect({ address: options.temporalAddress });
  const worker = await createExtauthWorker({
    connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    deps,
    codecKeys: options.codecKeys,
  });
  const done = worker.run().finally(async () => {
    await Promise.allSettled([connection.close(), closeActivityDeps(deps)]);
  });
  return {
    worker,
    done,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
