// The `extauth` command: parses arguments, calls the client library or a process entry point, maps errors to exit codes.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import pg from 'pg';
import { ZodError, z } from 'zod';
import { ConfigError, readEnv, resolveEndpoints } from '../config/env.js';
import { ProvidersConfigError } from '../providers/config.js';
import { putLink } from '../store/links.js';
import { migrateUp } from '../store/migrate.js';
import { MAX_MIN_VALID_SECONDS } from '../workflows/messages.js';
import { connectClient, UnreachableError } from './connect.js';
import { ExtauthError } from './errors.js';
import { DEFAULT_MIN_VALID_SECONDS } from './index.js';
import { formatStatus } from './format.js';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

const USAGE = `usage: extauth <command> [options]

  dev [--demo]          Temporal dev server (+ Web UI), embedded Postgres, migrations and a worker
  worker                a worker (TEMPORAL_ADDRESS, DATABASE_URL, EXTAUTH_PROVIDERS)
  migrate               apply database migrations (DATABASE_URL)
  link put --provider P --user U --access-token A --refresh-token R (--expires-in SECONDS | --expires-at ISO)
                        store a link as the OAuth callback would, clear any failure, tell a running workflow
  token --provider P --user U [--min-valid SECONDS] [--json]
  status --provider P --user U [--json]
  refresh --provider P --user U [--json]

exit codes: 0 ok, 1 environment error, 2 usage error, 3 re-authentication required,
            4 provider unavailable, 5 unknown link or provider`;

class UsageError extends Error {}

const linkOptions = { provider: { type: 'string' }, user: { type: 'string' }, json: { type: 'boolean' } } as const;
const linkSchema = z.object({ provider: z.string().min(1), user: z.string().min(1) });

function parse<const O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true as const, allowPositionals: false as const });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function validated<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new UsageError(result.error.issues.map((i) => `--${kebab(String(i.path[0] ?? ''))}: ${i.message}`).join('; '));
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const print = (value: unknown) => process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}\n`);

async function withClient<T>(fn: (client: Awaited<ReturnType<typeof connectClient>>['client']) => Promise<T>): Promise<T> {
  const { client, close } = await connectClient(resolveEndpoints(readEnv()));
  try {
    return await fn(client);
  } finally {
    await close();
  }
}

async function tokenCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { ...linkOptions, 'min-valid': { type: 'string' } });
  const link = validated(linkSchema, values);
  const minValidSeconds = validated(
    z.object({ minValid: z.coerce.number().int().min(0).max(MAX_MIN_VALID_SECONDS).default(DEFAULT_MIN_VALID_SECONDS) }),
    { minValid: values['min-valid'] },
  ).minValid;
  const grant = await withClient((c) => c.getToken({ ...link, minValidSeconds }));
  print(values.json ? grant : grant.accessToken);
  return EXIT.ok;
}

async function statusCommand(args: string[], refresh: boolean): Promise<number> {
  const { values } = parse(args, linkOptions);
  const link = validated(linkSchema, values);
  const status = await withClient((c) => (refresh ? c.refresh(link) : c.status(link)));
  print(values.json ? status : formatStatus(status));
  return status.state === 'reauth_required' ? 3 : EXIT.ok;
}

async function linkPutCommand(args: string[]): Promise<number> {
  const { values } = parse(args, {
    ...linkOptions,
    'access-token': { type: 'string' },
    'refresh-token': { type: 'string' },
    'expires-in': { type: 'string' },
    'expires-at': { type: 'string' },
    'token-type': { type: 'string' },
  });
  const input = validated(
    linkSchema.extend({
      accessToken: z.string().min(1),
      refreshToken: z.string().min(1),
      expiresIn: z.coerce.number().int().positive().max(10 * 365 * 86400).optional(),
      expiresAt: z.iso.datetime({ offset: true }).optional(),
      tokenType: z.string().min(1).default('bearer'),
    }),
    {
      provider: values.provider,
      user: values.user,
      accessToken: values['access-token'],
      refreshToken: values['refresh-token'],
      expiresIn: values['expires-in'],
      expiresAt: values['expires-at'],
      tokenType: values['token-type'],
    },
  );
  if ((input.expiresIn === undefined) === (input.expiresAt === undefined)) throw new UsageError('give exactly one of --expires-in or --expires-at');
  const expiresAt = input.expiresAt ? new Date(input.expiresAt) : new Date(Date.now() + input.expiresIn! * 1000);
  const endpoints = resolveEndpoints(readEnv());
  if (!endpoints.databaseUrl) throw new ConfigError('no database: set DATABASE_URL, or start `extauth dev` first');
  const pool = new pg.Pool({ connectionString: endpoints.databaseUrl, max: 1 });
  try {
    const lifetime = Math.round((expiresAt.getTime() - Date.now()) / 1000);
    const row = await putLink(pool, { providerId: input.provider, userId: input.user }, {
      accessToken: input.accessToken,
      refreshToken: input.refreshToken,
      tokenType: input.tokenType,
      expiresAt: expiresAt.toISOString(),
      extra: { token_type: input.tokenType, ...(lifetime > 0 ? { expires_in: lifetime } : {}) },
    });
    const notified = await withClient((c) => c.relinked(input));
    print(values.json ? { stored: true, tokenVersion: row.tokenVersion, workflowNotified: notified } : `stored link ${input.provider}/${input.user} (version ${row.tokenVersion})${notified ? '; running workflow told to reload' : ''}`);
  } finally {
    await pool.end();
  }
  return EXIT.ok;
}

async function migrateCommand(): Promise<number> {
  const endpoints = resolveEndpoints({ ...readEnv(), TEMPORAL_ADDRESS: 'unused' });
  if (!endpoints.databaseUrl) throw new ConfigError('no database: set DATABASE_URL');
  const applied = await migrateUp(endpoints.databaseUrl);
  print(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  return EXIT.ok;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'token':
      return tokenCommand(rest);
    case 'status':
      return statusCommand(rest, false);
    case 'refresh':
      return statusCommand(rest, true);
    case 'link':
      if (rest[0] !== 'put') throw new UsageError(`unknown link command "${rest[0] ?? ''}" (expected: link put)`);
      return linkPutCommand(rest.slice(1));
    case 'migrate':
      return migrateCommand();
    case 'dev': {
      const { values } = parse(rest, { demo: { type: 'boolean' } });
      const { runDev } = await import('../dev/run.js');
      return runDev({ demo: values.demo ?? false });
    }
    case 'worker': {
      parse(rest, {});
      const { runWorkerProcess } = await import('../dev/worker-process.js');
      return runWorkerProcess();
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      if (!command) throw new UsageError('no command given');
      print(USAGE);
      return EXIT.ok;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** Maps every failure to its exit code and a message that says what to do. */
export async function run(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    return await main(argv);
  } catch (err) {
    if (err instanceof ExtauthError) {
      if (json) print(err.toJSON());
      else process.stderr.write(`extauth: ${err.code}: ${err.reason}\n`);
      return err.exitCode;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`extauth: ${err.message}\n\n${USAGE}\n`);
      return EXIT.usage;
    }
    if (err instanceof ConfigError || err instanceof ProvidersConfigError || err instanceof UnreachableError || err instanceof ZodError) {
      process.stderr.write(`extauth: ${err.message}\n`);
      return EXIT.failure;
    }
    process.stderr.write(`extauth: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.failure;
  }
}
