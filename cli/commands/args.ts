// Argument parsing and output helpers shared by every `extauth` command.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import pg from 'pg';
import { z } from 'zod';
import { ConfigError, readEnv, resolveEndpoints, type Endpoints } from '../../config/env.js';
import { connectClient } from '../../client/connect.js';
import type { ExtauthClient } from '../../client/index.js';

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

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Strict parsing; errors never repeat an argument's value (a token pasted in the wrong place would end up on the
 * terminal, in CI logs, in a bug report): node's own messages quote stray arguments, so they are rebuilt here from
 * the error code and the option names this command defines. An option given twice is refused (node keeps the last).
 */
export function parse<const O extends Options>(args: string[], options: O) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true as const, allowPositionals: false as const, tokens: true as const });
  } catch (err) {
    throw new UsageError(parseErrorMessage(err, args, options));
  }
  refuseRepeatedOptions(parsed.tokens, options);
  const { tokens: _tokens, ...result } = parsed;
  return result;
}

/** The rebuilt message of a parseArgs failure: the option names this command knows, and argument positions. */
export function parseErrorMessage(err: unknown, args: string[], options: Options): string {
  const code = (err as { code?: string }).code;
  const tokens = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true }).tokens;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const unknown = tokens.find((t) => t.kind === 'option' && !(t.name in options) && !isShortOf(t.rawName, options));
    const name = unknown?.kind === 'option' ? shownOptionName(unknown.rawName) : undefined;
    const where = unknown ? ` (argument ${unknown.index + 1})` : '';
    return `${name ? `unknown option ${name}` : 'unknown option, not shown'}${where}; options: ${optionList(options)}`;
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const stray = tokens.find((t) => t.kind === 'positional');
    return `unexpected argument${stray ? ` ${stray.index + 1}` : ''} (not shown: it may be a secret); this command takes only options: ${optionList(options)}`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const name = Object.keys(options).find((n) => new RegExp(`'--${n}[' ]`).test((err as Error).message));
    if (name && options[name]!.type === 'boolean') return `--${name} takes no value`;
    if (name) return `--${name} needs a value (give a value that starts with "-" as --${name}=VALUE)`;
  }
  return `invalid arguments; options: ${optionList(options)}`;
}

function refuseRepeatedOptions(tokens: ReturnType<typeof parseArgs>['tokens'] & object, options: Options): void {
  const seen = new Set<string>();
  for (const t of tokens) {
    if (t.kind !== 'option' || options[t.name]?.multiple) continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} is given more than once; give it once`);
    seen.add(t.name);
  }
}

const isShortOf = (rawName: string, options: Options) => Object.values(options).some((o) => o.short !== undefined && rawName === `-${o.short}`);
const optionList = (options: Options) => Object.keys(options).map((n) => `--${n}`).join(', ') || 'none';

/** An unknown option's name is shown only when it looks like one: short, lower-case words (a token does not). */
function shownOptionName(rawName: string): string | undefined {
  return /^--?[a-z][a-z-]{0,23}$/.test(rawName) ? rawName : undefined;
}

/**
 * Validates parsed options with zod; problems are usage errors naming the option. zod's messages say what was
 * expected, not what was given; should one ever quote the given value, it is cut out here.
 */
export function validated<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const given = (key: PropertyKey) => (typeof value === 'object' && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined);
  throw new UsageError(
    result.error.issues
      .map((i) => {
        const input = given(i.path[0] ?? '');
        const message = typeof input === 'string' && input.length >= 3 ? i.message.replaceAll(input, '[value not shown]') : i.message;
        return `--${kebab(String(i.path[0] ?? ''))}: ${message}`;
      })
      .join('; '),
  );
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
