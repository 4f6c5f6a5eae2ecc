// Process configuration from the environment, falling back to what a running `extauth dev` published.
// Commands that git and agents run (`token`, `git-credential`, …) run in a folder someone else controls (a
// repository): they never read configuration from the current folder, only from the environment and from the
// per-user file that `extauth dev` publishes (~/.local/state/extauth/dev.json).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';

const envSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  EXTAUTH_TASK_QUEUE: z.string().min(1).default('extauth'),
  DATABASE_URL: z.string().min(1).optional(),
  EXTAUTH_PROVIDERS: z.string().min(1).optional(),
  /** Set explicitly: where `extauth dev` keeps its data and publishes dev.json. Unset: see devDataDir / userDevEndpointsFile. */
  EXTAUTH_DATA_DIR: z.string().min(1).optional(),
  XDG_STATE_HOME: z.string().optional(),
  HOME: z.string().optional(),
  /** Where the worker serves Prometheus metrics (loopback); 0 turns it off. */
  EXTAUTH_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
});

export type Env = z.infer<typeof envSchema>;

export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const result = envSchema.safeParse(source);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  const dataDir = result.data.EXTAUTH_DATA_DIR;
  return { ...result.data, EXTAUTH_DATA_DIR: dataDir === undefined ? undefined : resolve(dataDir) };
}

export class ConfigError extends Error {}

/** Where `extauth dev` keeps its data: EXTAUTH_DATA_DIR, else ./.extauth (the README quick start, run by the operator). */
export function devDataDir(env: Env): string {
  return env.EXTAUTH_DATA_DIR ?? resolve('.extauth');
}

/** The per-user copy of dev.json: $XDG_STATE_HOME/extauth/dev.json, else ~/.local/state/extauth/dev.json (XDG base dirs). */
export function userDevEndpointsFile(env: Env): string {
  const stateHome = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(env.HOME || homedir(), '.local', 'state');
  return join(stateHome, 'extauth', 'dev.json');
}

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
  /** Absolute: the data folder of the `extauth dev` that wrote this. */
  dataDir?: string;
  /** The `extauth dev` process: a file whose process is gone is stale and ignored. */
  pid?: number;
}

/** The dev.json inside a data folder; `extauth dev` writes it there and in the per-user location. */
export function devEndpointsFile(dataDir: string): string {
  return join(dataDir, 'dev.json');
}

/**
 * Which dev.json commands read: the one in EXTAUTH_DATA_DIR when the environment names that folder, otherwise the
 * per-user one. Never the current folder's .extauth/: a repository could plant one there.
 */
export function publishedEndpointsFile(env: Env): string {
  return env.EXTAUTH_DATA_DIR ? devEndpointsFile(env.EXTAUTH_DATA_DIR) : userDevEndpointsFile(env);
}

export function readDevEndpoints(env: Env): DevEndpoints | undefined {
  const file = publishedEndpointsFile(env);
  if (!existsSync(file)) return undefined;
  const dev = JSON.parse(readFileSync(file, 'utf8')) as DevEndpoints;
  return dev.pid === undefined || processExists(dev.pid) ? dev : undefined;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
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

/** Environment first; otherwise the endpoints a running `extauth dev` published (publishedEndpointsFile). */
export function resolveEndpoints(env: Env): Endpoints {
  const dev = readDevEndpoints(env);
  const temporalAddress = env.TEMPORAL_ADDRESS ?? dev?.temporalAddress;
  if (!temporalAddress) {
    throw new ConfigError('no Temporal server: set TEMPORAL_ADDRESS (host:port), or start `extauth dev` (npm start) first');
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
