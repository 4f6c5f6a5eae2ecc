// A per-file test world: a fake provider, a worker on its own task queue against the shared real
// Temporal server and Postgres, a client, and every log line captured for secret checks.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import type { Pool } from 'pg';
import { ExtauthClient } from '../../client/index.js';
import { TunedExtauthClient } from '../../client/tuned-client.js';
import { extauthDataConverter } from '../../codec/data-converter.js';
import { makeCodecKeys, parseCodecKey } from '../../codec/keys.js';
import { TokenSealer } from '../../codec/seal.js';
import { createLogger, installTemporalLogging } from '../../config/logger.js';
import type { ExtauthMetrics } from '../../worker/metrics.js';
import type { LinkKey } from '../../core/types.js';
import { FakeOAuthProvider, type FakeProviderOptions, type Grant } from '../../dev/fake-provider.js';
import { parseProviders, type ProviderInput } from '../../providers/config.js';
import { getLink, putLink, type LinkRow } from '../../store/links.js';
import { tokenCipherForProcess } from '../../store/db-key.js';
import type { TokenCipher } from '../../store/token-cipher.js';
import type { Tuning } from '../../workflows/policies.js';
import { extauthWorkerOptions } from '../../worker.js';
import { closeActivityDeps, createActivityDeps } from '../../worker/activity-deps.js';

/** Every log line of this test process: extauth's pino logs and the Temporal SDK's. */
export const logLines: string[] = [];
const logFile = process.env.EXTAUTH_TEST_LOG_DIR ? `${process.env.EXTAUTH_TEST_LOG_DIR}/test-${process.pid}.jsonl` : undefined;
const logger = createLogger(
  {
    write: (line: string) => {
      logLines.push(line);
      if (logFile) appendFileSync(logFile, line);
    },
  },
  "debug",
);
installTemporalLogging(logger, 'INFO');

/** Short budgets so that give-up paths finish in seconds. */
export const FAST_TUNING: Partial<Tuning> = {
  exchangeAttemptMs: 3_000,
  exchangeBudgetMs: 15_000,
  validateAttemptMs: 2_000,
  validateBudgetMs: 8_000,
  retryInitialMs: 100,
  retryMaxMs: 500,
};

export interface World {
  providerId: string;
  taskQueue: string;
  provider: FakeOAuthProvider;
  client: ExtauthClient;
  pool: Pool;
  /** The worker's token-column cipher (undefined: plaintext), for tests that call the store directly. */
  cipher: TokenCipher | undefined;
  metrics: ExtauthMetrics;
  /** The running worker (the latest, after replaceWorker). */
  worker: Worker;
  temporal: Client;
  /**
   * Shuts the worker down (its sticky cache goes with it) and starts another on the same task queue with the same
   * activities: by default with the real workflows, or with another bundle (e.g. a deliberately broken one).
   */
  replaceWorker(options?: { workflowBundle?: WorkflowBundleOption; failOnNondeterminism?: boolean }): Promise<void>;
  /** Stops the worker until resumeWorker: the task queue's runs wait, as when every worker is down or starved. */
  pauseWorker(): Promise<void>;
  resumeWorker(): Promise<void>;
  /** Stores a link as the OAuth callback would, with tokens the fake provider issued. */
  seedLink(
    user: string,
    opts?: {
      expiresInSeconds?: number;
      lifetimeSeconds?: number;
      /** The refresh token's own expiry (ISO) as the callback stores it; null or absent: unknown. */
      refreshTokenExpiresAt?: string | null;
      /** A grant already issued (e.g. of another family, as after a re-authentication); default: a new one for `user`. */
      grant?: Grant;
    },
  ): Promise<Grant>;
  row(user: string): Promise<LinkRow>;
  key(user: string): LinkKey;
  /** Tokens issued by the fake provider that appear in any captured log line. */
  leakedTokens(): string[];
  stop(): Promise<void>;
}

export async function startWorld(
  options: {
    tuning?: Partial<Tuning>;
    provider?: FakeProviderOptions;
    /**
     * Overrides of the provider entry (or a function of the started fake giving them). With a `preset`, the entry
     * starts from the preset instead of the fake's GitHub-style type and URLs; point the URLs at the fake yourself.
     */
    providerConfig?: Partial<ProviderInput> | ((provider: FakeOAuthProvider) => Partial<ProviderInput>);
    /** false: no payload encryption (only to prove that the plaintext checks can fail). */
    codec?: boolean;
    /** 0: no sticky cache, so every workflow task replays the run's whole history (a determinism stress). */
    maxCachedWorkflows?: number;
    /**
     * Encrypts the token columns (and seedLink/row use it). Default: the run's database key, resolved as an operator's
     * worker resolves EXTAUTH_DB_KEY (store/db-key.ts), so links go through the encrypted default path; null: plaintext
     * (the explicit opt-out, only for controls).
     */
    tokenCipher?: TokenCipher | null;
  } = {},
): Promise<World> {
  const providerId = `gh-${randomBytes(4).toString('hex')}`;
  const taskQueue = `extauth-test-${providerId}`;
  const provider = await FakeOAuthProvider.start(options.provider);
  const overrides = typeof options.providerConfig === 'function' ? options.providerConfig(provider) : options.providerConfig;
  const githubStyle = overrides?.preset === undefined ? { type: 'github' as const, tokenUrl: provider.tokenUrl, validateUrl: provider.validateUrl } : {};
  const providers = parseProviders([
    {
      id: providerId,
      ...githubStyle,
      clientId: provider.clientId,
      clientSecret: provider.clientSecret,
      // Scenarios decide when refreshes happen; tests of proactive refresh turn it on.
      refreshAheadSeconds: 0,
      ...overrides,
    },
  ]);
  const cipher = options.tokenCipher === undefined ? tokenCipherForProcess({ EXTAUTH_DB_KEY: inject('dbKey') }, 'the test worker') : options.tokenCipher;
  const sealer = new TokenSealer(makeCodecKeys(parseCodecKey(inject('workerKey'), 'workerKey')));
  const deps = createActivityDeps({ databaseUrl: inject('databaseUrl'), providers, logger, cipher, sealer });
  const nativeConnection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const codecKeys = options.codec === false ? undefined : makeCodecKeys(parseCodecKey(inject('codecKey'), 'codecKey'));
  const startWorker = async (bundle: { workflowBundle?: WorkflowBundleOption; failOnNondeterminism?: boolean } = {}) => {
    const workerOptions = await extauthWorkerOptions({
      codecKeys,
      connection: nativeConnection,
      namespace: 'default',
      taskQueue,
      deps,
      workflowBundle: bundle.workflowBundle ?? { codePath: inject('workflowBundlePath') },
      maxCachedWorkflows: options.maxCachedWorkflows,
    });
    // The control of test/faults/nondeterminism.test.ts: without this production setting a broken run retries its task forever.
    if (bundle.failOnNondeterminism === false) delete workerOptions.workflowFailureErrorTypes;
    const worker = await Worker.create(workerOptions);
    return { worker, running: worker.run() };
  };
  let current = await startWorker();
  let paused = false;
  const stopWorker = async () => {
    if (paused) return;
    current.worker.shutdown();
    await current.running;
  };
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  const temporal = new Client({ connection, namespace: 'default', dataConverter: codecKeys && extauthDataConverter(codecKeys) });
  const client = new TunedExtauthClient(temporal, { taskQueue }, { ...FAST_TUNING, ...options.tuning });

  const key = (user: string): LinkKey => ({ providerId, userId: user });
  return {
    providerId,
    taskQueue,
    provider,
    client,
    pool: deps.pool,
    cipher: deps.cipher,
    metrics: deps.metrics,
    get worker() {
      return current.worker;
    },
    temporal,
    key,
    async replaceWorker(bundle) {
      await stopWorker();
      current = await startWorker(bundle);
      paused = false;
    },
    async pauseWorker() {
      await stopWorker();
      paused = true;
    },
    async resumeWorker() {
      if (!paused) throw new Error('resumeWorker without pauseWorker');
      current = await startWorker();
      paused = false;
    },
    async seedLink(user, { expiresInSeconds = 3600, lifetimeSeconds, refreshTokenExpiresAt, grant } = {}) {
      grant ??= provider.issueGrant({ familyId: user, accessTokenLifetimeSeconds: lifetimeSeconds });
      await putLink(deps.pool, key(user), {
        accessToken: grant.accessToken,
        refreshToken: grant.refreshToken,
        tokenType: 'bearer',
        expiresAt: new Date(Date.now() + expiresInSeconds * 1000).toISOString(),
        refreshTokenExpiresAt,
        extra: { expires_in: lifetimeSeconds ?? grant.expiresIn },
      }, deps.cipher);
      return grant;
    },
    async row(user) {
      const row = await getLink(deps.pool, key(user), deps.cipher);
      if (!row) throw new Error(`no row for ${user}`);
      return row;
    },
    leakedTokens() {
      const text = logLines.join('\n');
      return provider.issuedTokens().filter((token) => text.includes(token));
    },
    async stop() {
      await stopWorker();
      await Promise.allSettled([nativeConnection.close(), connection.close(), closeActivityDeps(deps), provider.close()]);
    },
  };
}

/** A user id unique to one test, so that tests in a file never share a link. */
export function uniqueUser(label: string): string {
  return `${label}-${randomBytes(3).toString('hex')}`;
}

/**
 * The usual file setup: a world started before the file's tests and stopped after them, failing the
 * file if any issued token appears in a log line. Its members are usable inside tests and hooks.
 */
export function useWorld(options: Parameters<typeof startWorld>[0] = {}): World {
  let world: World | undefined;
  beforeAll(async () => {
    world = await startWorld(options);
  });
  afterAll(async () => {
    if (!world) return;
    expect(world.leakedTokens()).toEqual([]);
    await world.stop();
  });
  return new Proxy({} as World, {
    get(_target, name) {
      if (!world) throw new Error('the test world is used before beforeAll started it');
      return world[name as keyof World];
    },
  });
}
