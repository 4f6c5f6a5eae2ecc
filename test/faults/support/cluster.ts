// A private little cluster for the tests that kill and restart things: its own Temporal dev server (on
// disk, so it survives a restart), its own Postgres, a fake provider, and worker PROCESSES (the real
// `extauth worker`, or the test-only hooked entry) whose every output line is kept.
import { Client, Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { expect, inject } from 'vitest';
import { ExtauthClient } from '../../../client/index.js';
import { TunedExtauthClient } from '../../../client/tuned-client.js';
import { extauthDataConverter } from '../../../codec/data-converter.js';
import { makeCodecKeys, parseCodecKey } from '../../../codec/keys.js';
import type { LinkKey } from '../../../core/types.js';
import { FakeOAuthProvider, type FakeProviderOptions, type Grant } from '../../../dev/fake-provider.js';
import { getFreePort } from '../../../dev/ports.js';
import { startEmbeddedPostgres, type DevPostgres } from '../../../dev/postgres.js';
import { startTemporalDevServer, type DevTemporal } from '../../../dev/temporal.js';
import { getLink, putLink, type LinkRow } from '../../../store/links.js';
import { tokenCipherFromEnv } from '../../../store/token-cipher.js';
import { migrateUp } from '../../../store/migrate.js';
import type { Tuning } from '../../../workflows/policies.js';
import { DEV_SERVER_SEARCH_ATTRIBUTES } from '../../../workflows/search-attributes.js';
import type { PauseSpec } from './hooked-worker.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(ROOT, 'bin/extauth.js');
const HOOKED = join(ROOT, 'test/faults/support/hooked-worker.ts');

export interface WorkerProcess {
  pid: number;
  alive(): boolean;
  lines: string[];
  /** Resolves when the line appears (or rejects when the process exits first / after timeoutMs). */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  exited: Promise<number | null>;
}

export interface Cluster {
  dir: string;
  providerId: string;
  taskQueue: string;
  provider: FakeOAuthProvider;
  client: ExtauthClient;
  temporal: Client;
  pool: pg.Pool;
  temporalAddress: string;
  /** Every line every worker process printed. */
  workerLines: string[];
  /** `hooked`: the test-only entry (prebuilt bundle, pauses when armed); otherwise the real `extauth worker`. */
  startWorker(opts?: { hooked?: boolean }): WorkerProcess;
  /** Arms every hooked worker (running or future) to pause once at `spec.step` for `spec.user`. */
  armPause(spec: PauseSpec): Promise<void>;
  /** The worker that printed `EXTAUTH_TEST_PAUSED <step>`. */
  pausedWorker(step: string, timeoutMs?: number): Promise<WorkerProcess>;
  liveWorkers(): WorkerProcess[];
  seedLink(user: string, opts?: { expiresInSeconds?: number; lifetimeSeconds?: number; refreshTokenExpiresAt?: string }): Promise<Grant>;
  row(user: string): Promise<LinkRow>;
  key(user: string): LinkKey;
  stopPostgres(): Promise<void>;
  startPostgres(): Promise<void>;
  restartTemporal(): Promise<void>;
  leakedTokens(): string[];
  stop(): Promise<void>;
}

/** `workerEnv`: more environment for the worker processes (e.g. EXTAUTH_WEBHOOK_URL / EXTAUTH_WEBHOOK_SECRET). */
export async function startCluster(options: { provider?: FakeProviderOptions; tuning?: Partial<Tuning>; workerEnv?: Record<string, string> } = {}): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'extauth-faults-'));
  await chmod(dir, 0o755); // as root, Postgres runs as "postgres" and must enter it
  const pgPort = await getFreePort();
  const temporalPort = await getFreePort();
  const quiet = () => undefined;
  const startPg = () => startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: pgPort, persistent: true, log: quiet });
  const startTemporal = () =>
    startTemporalDevServer({ headless: true, port: temporalPort, dbFile: join(dir, 'temporal.db'), searchAttributes: DEV_SERVER_SEARCH_ATTRIBUTES, log: quiet });
  let [postgres, temporalServer]: [DevPostgres | undefined, DevTemporal] = await Promise.all([startPg(), startTemporal()]);
  await migrateUp(postgres!.databaseUrl);
  const databaseUrl = postgres!.databaseUrl;

  const provider = await FakeOAuthProvider.start(options.provider);
  const providerId = 'gh-faults';
  const taskQueue = `extauth-faults-${process.pid}`;
  const providersFile = join(dir, 'providers.json');
  await writeFile(
    providersFile,
    JSON.stringify([{ id: providerId, type: 'github', clientId: provider.clientId, clientSecret: provider.clientSecret, tokenUrl: provider.tokenUrl, validateUrl: provider.validateUrl, revocationUrl: provider.revocationUrl, revocation: 'github-grant' }]),
  );
  const codecKey = inject('codecKey');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    TEMPORAL_ADDRESS: temporalServer.address,
    DATABASE_URL: databaseUrl,
    EXTAUTH_PROVIDERS: providersFile,
    EXTAUTH_TASK_QUEUE: taskQueue,
    EXTAUTH_CODEC_KEY: codecKey,
    EXTAUTH_WORKER_KEY: inject('workerKey'),
    EXTAUTH_DB_KEY: inject('dbKey'),
    EXTAUTH_DATA_DIR: join(dir, 'data'),
    EXTAUTH_LOG_LEVEL: 'info',
    EXTAUTH_TEST_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
    ...options.workerEnv,
  };

  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  pool.on('error', () => undefined); // Postgres restarts are part of the tests
  const codecKeys = makeCodecKeys(parseCodecKey(codecKey, 'codecKey'));
  const cipher = tokenCipherFromEnv({ EXTAUTH_DB_KEY: inject('dbKey') });
  const connection = await Connection.connect({ address: temporalServer.address });
  const temporal = new Client({ connection, namespace: 'default', dataConverter: extauthDataConverter(codecKeys) });
  const client = new TunedExtauthClient(temporal, { taskQueue }, options.tuning);
  const workers: WorkerProcess[] = [];
  const workerLines: string[] = [];
  const key = (user: string): LinkKey => ({ providerId, userId: user });

  const pauseFile = join(dir, 'pause.json');
  function startWorker(opts: { hooked?: boolean } = {}): WorkerProcess {
    const args = opts.hooked ? ['--import', 'tsx', HOOKED] : [BIN, 'worker'];
    const child: ChildProcess = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...env, ...(opts.hooked ? { EXTAUTH_TEST_PAUSE_FILE: pauseFile } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    const waiters: { text: string; resolve: () => void }[] = [];
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        lines.push(line);
        workerLines.push(line);
        for (const w of waiters.filter((w) => line.includes(w.text))) w.resolve();
      });
    }
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const proc: WorkerProcess = {
      alive: () => child.exitCode === null && child.signalCode === null,
      pid: child.pid!,
      lines,
      exited,
      waitFor(text, timeoutMs = 60_000) {
        if (lines.some((l) => l.includes(text))) return Promise.resolve();
        return new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`worker ${child.pid}: "${text}" not seen within ${timeoutMs} ms\n${lines.slice(-20).join('\n')}`)), timeoutMs);
          waiters.push({ text, resolve: () => (clearTimeout(timer), resolve()) });
          void exited.then((code) => reject(new Error(`worker ${child.pid} exited (${code}) before "${text}"\n${lines.slice(-20).join('\n')}`)));
        });
      },
      async kill(signal = 'SIGKILL') {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        await exited;
      },
    };
    workers.push(proc);
    return proc;
  }

  return {
    dir,
    providerId,
    taskQueue,
    provider,
    client,
    temporal,
    pool,
    workerLines,
    get temporalAddress() {
      return temporalServer.address;
    },
    startWorker,
    key,
    async armPause(spec) {
      await writeFile(`${pauseFile}.tmp`, JSON.stringify(spec));
      await rename(`${pauseFile}.tmp`, pauseFile);
    },
    pausedWorker(step, timeoutMs = 60_000) {
      const text = `EXTAUTH_TEST_PAUSED ${step}`;
      const deadline = Date.now() + timeoutMs;
      return new Promise((resolve, reject) => {
        const poll = () => {
          const found = workers.find((w) => w.alive() && w.lines.some((l) => l.includes(text)));
          if (found) return resolve(found);
          if (Date.now() > deadline) return reject(new Error(`no worker paused at ${step} within ${timeoutMs} ms`));
          setTimeout(poll, 25);
        };
        poll();
      });
    },
    liveWorkers: () => workers.filter((w) => w.alive()),
    async seedLink(user, { expiresInSeconds = 3600, lifetimeSeconds, refreshTokenExpiresAt } = {}) {
      const grant = provider.issueGrant({ familyId: user, accessTokenLifetimeSeconds: lifetimeSeconds });
      await putLink(pool, key(user), {
        accessToken: grant.accessToken,
        refreshToken: grant.refreshToken,
        tokenType: 'bearer',
        expiresAt: new Date(Date.now() + expiresInSeconds * 1000).toISOString(),
        refreshTokenExpiresAt,
        extra: { expires_in: lifetimeSeconds ?? grant.expiresIn },
      }, cipher);
      return grant;
    },
    async row(user) {
      const row = await getLink(pool, key(user), cipher);
      if (!row) throw new Error(`no row for ${user}`);
      return row;
    },
    async stopPostgres() {
      await postgres?.stop();
      postgres = undefined;
    },
    async startPostgres() {
      postgres = await startPg();
    },
    async restartTemporal() {
      await temporalServer.stop();
      temporalServer = await startTemporal();
    },
    leakedTokens() {
      const text = workerLines.join('\n');
      return provider.issuedTokens().filter((token) => text.includes(token));
    },
    async stop() {
      await Promise.allSettled(workers.map((w) => w.kill('SIGTERM')));
      await Promise.allSettled([connection.close(), pool.end(), provider.close()]);
      await Promise.allSettled([temporalServer.stop(), postgres?.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * After a fault: the agent's token is valid, the row holds it and the provider's live refresh token (no
 * rotation lost), no failure was recorded, reuse detection never tripped, and (when given) the number of
 * exchanges is one of `exchanges`.
 */
export async function expectFollowsProvider(cluster: Cluster, user: string, accessToken: string, { exchanges }: { exchanges?: number[] } = {}): Promise<void> {
  expect(cluster.provider.isAccessTokenValid(accessToken)).toBe(true);
  const row = await cluster.row(user);
  expect(row.refreshToken).toBe(cluster.provider.liveRefreshToken(user));
  expect(row.accessToken).toBe(accessToken);
  expect(row.failureReason).toBe('');
  expect(cluster.provider.stats.trippedFamilies.has(user)).toBe(false);
  if (exchanges) expect(exchanges).toContain(cluster.provider.stats.tokenCallsByFamily.get(user));
}
