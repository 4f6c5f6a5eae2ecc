// Process configuration from the environment, falling back to what a running `extauth dev` published.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';

const envSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  EXTAUTH_TASK_QUEUE: z.string().min(1).default('extauth'),
  DATABASE_URL: z.string().min(1).optional(),
  EXTAUTH_PROVIDERS: z.string().min(1).optional(),
  EXTAUTH_DATA_DIR: z.string().min(1).default('.extauth'),
  /** Where the worker serves Prometheus metrics (loopback); 0 turns it off. */
  EXTAUTH_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
});

export type Env = z.infer<typeof envSchema>;

export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const result = envSchema.safeParse(source);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  return { ...result.data, EXTAUTH_DATA_DIR: resolve(result.data.EXTAUTH_DATA_DIR) };
}

export class ConfigError extends Error {}

/** Published by `extauth dev` once everything accepts work, so that other commands find it. */
export interface DevEndpoints {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  uiUrl: string | null;
  databaseUrl: string;
  providersFile: string | null;
  codecKeyFile: string;
  /** The dev worker key, for `extauth worker` processes that join; clients never read it. Absent in files of older versions. */
  workerKeyFile?: string;
  /** The dev database key (token columns); absent in dev.json files written before it existed. */
  dbKeyFile?: string;
}

export function devEndpointsFile(env: Env): string {
  return join(env.EXTAUTH_DATA_DIR, 'dev.json');
}

function readDevEndpoints(env: Env): DevEndpoints | undefined {
  const file = devEndpointsFile(env);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as DevEndpoints;
}

export interface Endpoints {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  databaseUrl: string | undefined;
  providersFile: string | undefined;
  /** The dev payload key published by `extauth dev`; EXTAUTH_CODEC_KEY wins over it. */
  codecKeyFile: string | undefined;
  /** The dev worker key published by `extauth dev`, for workers only; EXTAUTH_WORKER_KEY wins over it. */
  workerKeyFile: string | undefined;
  /** The dev database key published by `extauth dev`; EXTAUTH_DB_KEY wins over it (store/db-key.ts). */
  dbKeyFile: string | undefined;
}

/** Environment first; otherwise the endpoints of a running `extauth dev` in the same data folder. */
export function resolveEndpoints(env: Env): Endpoints {
  const dev = readDevEndpoints(env);
  const temporalAddress = env.TEMPORAL_ADDRESS ?? dev?.temporalAddress;
  if (!temporalAddress) {
    throw new ConfigError('no Temporal server: set TEMPORAL_ADDRESS (host:port), or start `extauth dev` (npm start) in this folder first');
  }
  return {
    temporalAddress,
    namespace: env.TEMPORAL_ADDRESS ? env.TEMPORAL_NAMESPACE : (dev?.namespace ?? env.TEMPORAL_NAMESPACE),
    taskQueue: env.TEMPORAL_ADDRESS ? env.EXTAUTH_TASK_QUEUE : (dev?.taskQueue ?? env.EXTAUTH_TASK_QUEUE),
    databaseUrl: env.DATABASE_URL ?? dev?.databaseUrl,
    providersFile: env.EXTAUTH_PROVIDERS ?? dev?.providersFile ?? undefined,
    codecKeyFile: dev?.codecKeyFile,
    workerKeyFile: dev?.workerKeyFile,
    // Only with the dev database: the dev key must not encrypt rows of a database DATABASE_URL points elsewhere.
    dbKeyFile: !env.DATABASE_URL || env.DATABASE_URL === dev?.databaseUrl ? dev?.dbKeyFile : undefined,
  };
}
