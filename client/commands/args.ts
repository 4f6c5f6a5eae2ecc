// Argument parsing and output helpers shared by every `extauth` command.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import pg from 'pg';
import { z } from 'zod';
import { ConfigError, readEnv, resolveEndpoints, type Endpoints } from '../../config/env.js';
import { connectClient } from '../connect.js';
import type { ExtauthClient } from '../index.js';

/** One `extauth` command: `path` is its words (e.g. ['link', 'put']); `run` returns the exit code. */
export interface Command {
  path: string[];
  /** The command line, e.g. "token --provider P --user U [--json]". */
  usage: string;
  /** What it does, in one line. */
  summary: string;
  run(args: string[]): Promise<number>;
}

export class UsageError extends Error {}

export const EXIT = { ok: 0, failure: 1, usage: 2, reauthRequired: 3 } as const;

export const linkOptions = { provider: { type: 'string' }, user: { type: 'string' }, json: { type: 'boolean' } } as const;
export const linkSchema = z.object({ provider: z.string().min(1), user: z.string().min(1) });

export function parse<const O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true as const, allowPositionals: false as const });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Validates parsed options with zod; problems are usage errors naming the option. */
export function validated<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new UsageError(result.error.issues.map((i) => `--${kebab(String(i.path[0] ?? ''))}: ${i.message}`).join('; '));
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function print(value: unknown): void {
  process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}\n`);
}

export function endpoints(): Endpoints {
  return resolveEndpoints(readEnv());
}

export async function withClient<T>(fn: (client: ExtauthClient) => Promise<T>): Promise<T> {
  const { client, close } = await connectClient(endpoints());
  try {
    return await fn(client);
  } finally {
    await close();
  }
}

export async function withPool<T>(fn: (pool: pg.Pool) => Promise<T>, databaseUrl = endpoints().databaseUrl): Promise<T> {
  if (!databaseUrl) throw new ConfigError('no database: set DATABASE_URL, or start `extauth dev` first');
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** "90", "90s", "15m", "1h30m", "2d" → whole seconds; anything else is refused with the accepted forms. */
export const durationSeconds = z
  .string()
  .regex(/^(\d{1,9}|(\d{1,9}[smhd])+)$/, 'a duration such as 90, 90s, 15m, 1h30m or 2d')
  .transform((text) => (/^\d+$/.test(text) ? Number(text) : [...text.matchAll(/(\d+)([smhd])/g)].reduce((sum, [, n, unit]) => sum + Number(n) * DURATION_UNITS[unit!]!, 0)));

/** For commands that need only the database: DATABASE_URL, else a running `extauth dev`'s (no Temporal address needed). */
export function databaseUrl(): string | undefined {
  return readEnv().DATABASE_URL ?? endpoints().databaseUrl;
}
