// `extauth dev [--demo]`: everything on embedded defaults, or on TEMPORAL_ADDRESS / DATABASE_URL when set.
import { Client, Connection } from '@temporalio/client';
import { join } from 'node:path';
import pg from 'pg';
import { listenAgentEndpoint } from '../agent-api/listen.js';
import { createAgentRequestCounter } from '../agent-api/metrics.js';
import { ExtauthClient, extauthGrpcInterceptors } from '../client/index.js';
import { extauthDataConverter } from '../codec/data-converter.js';
import { codecKeysFromEnv, ensureDevCodecKey } from '../codec/keys.js';
import { devTokenSealer } from '../codec/seal.js';
import { startCodecServer } from '../codec/server.js';
import { ConfigError, devDataDir, devEndpointsFile, readEnv, type DevEndpoints } from '../config/env.js';
import { createLogger, installTemporalLogging, privateLogDestination } from '../config/logger.js';
import { ensurePrivateDir, restrictFile, writePrivateFile } from '../core/private-files.js';
import { serveMetrics } from '../worker/metrics.js';
import { listenForStop, StopRequested } from '../config/stop-signals.js';
import { loadProvidersFile, parseProviders, type ProviderConfig } from '../providers/config.js';
import { tokenCipherForProcess } from '../store/db-key.js';
import { migrateUp } from '../store/migrate.js';
import { launchWorker } from '../worker/launch.js';
import { loadWebhookEndpoints } from '../config/webhooks.js';
import { startDemoWebhookReceiver } from './demo-webhooks.js';
import { DEV_SERVER_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';
import { DEMO_GIT_HOST, DEMO_REVOKED_USER, DEMO_TOKEN_LIFETIME_SECONDS, DEMO_USERS, seedDemoLinks, startDemo } from './demo.js';
import { relinkByDeviceLater } from './demo-relink.js';
import { claimDevDataDir } from './dev-lock.js';
import { FakeOAuthProvider } from './fake-provider.js';
import { exitsWithParent, watchParent } from './parent-watch.js';
import { getFreePort, isPortListening } from './ports.js';
import { publishDevEndpoints } from './publish.js';
import { startEmbeddedPostgres } from './postgres.js';
import { startTemporalDevServer } from './temporal.js';

const DEMO_PROVIDER_ID = 'demo-github';
const say = (msg: string) => process.stderr.write(`${msg}\n`);

type Stopper = () => Promise<unknown>;

export async function runDev({ demo }: { demo: boolean }): Promise<number> {
  const env = readEnv();
  const dataDir = devDataDir(env);
  // First of all: a signal during startup must stop what has started, not kill this process half-way (dev/dev-lock.ts,
  // config/stop-signals.ts, dev/parent-watch.ts: docs/operations.md, "Stopping").
  const stop = listenForStop(say);
  // Keys, endpoints, logs, databases: the operator's only (core/private-files.ts; as root, dev/postgres.ts adds o+x).
  ensurePrivateDir(dataDir);
  ensurePrivateDir(join(dataDir, 'logs'));
  const claim = await claimDevDataDir(dataDir, { say, staleFiles: [devEndpointsFile(dataDir)] });
  if (exitsWithParent()) watchParent(stop.request);
  const logFile = join(dataDir, 'logs', 'extauth.log');
  const logger = createLogger(privateLogDestination(logFile));
  const sdkMetricsPort = await getFreePort();
  installTemporalLogging(logger, 'WARN', [], `127.0.0.1:${sdkMetricsPort}`);

  const stoppers: Stopper[] = [async () => claim.release()];
  const shutdown = async () => {
    for (const stop of stoppers.reverse()) await stop().catch((err) => say(`extauth: while stopping: ${(err as Error).message}`));
  };
  try {
    const configured = env.EXTAUTH_PROVIDERS ? loadProvidersFile(env.EXTAUTH_PROVIDERS) : [];
    const webhooks = loadWebhookEndpoints(process.env, env.EXTAUTH_PROVIDERS);
    if (!demo && configured.length === 0) {
      throw new ConfigError('extauth dev needs providers: set EXTAUTH_PROVIDERS=path/to/providers.json, or run `extauth dev --demo` (npm start)');
    }

    let databaseUrl = env.DATABASE_URL;
    if (!databaseUrl) {
      say(`extauth: starting embedded Postgres in ${join(dataDir, 'postgres')}`);
      const postgres = await startEmbeddedPostgres({ dataDir: join(dataDir, 'postgres'), persistent: true, log: say });
      stoppers.push(() => postgres.stop());
      databaseUrl = postgres.databaseUrl;
      stop.throwIfRequested();
    }
    const applied = await migrateUp(databaseUrl);
    if (applied.length) say(`extauth: applied migrations ${applied.join(', ')}`);

    const codecKeyFile = join(dataDir, 'codec.key');
    ensureDevCodecKey(codecKeyFile);
    const codecKeys = codecKeysFromEnv(process.env, codecKeyFile);
    const workerKeyFile = join(dataDir, 'worker.key');
    const sealer = devTokenSealer(process.env, workerKeyFile);
    // Tokens are encrypted at rest in dev too: a key of its own, created once next to the payload key, unless
    // EXTAUTH_DB_KEY is set. Published in dev.json so that `link put` and workers started beside it find it.
    const dbKeyFile = process.env.EXTAUTH_DB_KEY?.trim() ? undefined : join(dataDir, 'db.key');
    if (dbKeyFile) ensureDevCodecKey(dbKeyFile);
    const cipher = tokenCipherForProcess(process.env, 'extauth dev', dbKeyFile);

    const defaultsFree = !(await isPortListening(7233)) && !(await isPortListening(8233));
    const uiPort = defaultsFree ? 8233 : await getFreePort();
    const codec = await startCodecServer({
      keys: codecKeys,
      port: 0,
      allowedOrigins: [`http://127.0.0.1:${uiPort}`, `http://localhost:${uiPort}`],
      logger,
    });
    stoppers.push(() => new Promise((resolve) => codec.server.close(resolve)));
    const codecEndpoint = codec.url;

    let temporalAddress = env.TEMPORAL_ADDRESS;
    let uiUrl: string | null = null;
    if (!temporalAddress) {
      say('extauth: starting the Temporal dev server (Web UI on)');
      const temporal = await startTemporalDevServer({
        dbFile: join(dataDir, 'temporal.db'),
        namespace: env.TEMPORAL_NAMESPACE,
        searchAttributes: DEV_SERVER_SEARCH_ATTRIBUTES,
        uiPort,
        uiCodecEndpoint: codecEndpoint,
        ...(defaultsFree ? { port: 7233 } : {}),
        ownProcessGroup: true,
        log: say,
      });
      stoppers.push(() => temporal.stop());
      // The dev server creates its SQLite files itself; SQLite gives -wal/-shm the database file's mode.
      for (const suffix of ['', '-wal', '-shm']) restrictFile(join(dataDir, `temporal.db${suffix}`));
      stop.throwIfRequested();
      temporalAddress = temporal.address;
      uiUrl = temporal.uiUrl ?? null;
    }

    let providers: ProviderConfig[] = configured;
    let fake: FakeOAuthProvider | undefined;
    if (demo) {
      fake = await FakeOAuthProvider.start({ accessTokenLifetimeSeconds: DEMO_TOKEN_LIFETIME_SECONDS });
      stoppers.push(() => fake!.close());
      providers = [...configured.filter((p) => p.id !== DEMO_PROVIDER_ID), ...demoProvider(fake)];
    }
    // Written out so that extra `extauth worker` processes can join with the same providers.
    const providersFile = join(dataDir, 'providers.dev.json');
    writePrivateFile(providersFile, JSON.stringify(providers, null, 2));

    const taskQueue = env.EXTAUTH_TASK_QUEUE;
    if (demo) webhooks.push(await demoWebhooks(stoppers));
    const worker = await launchWorker({ temporalAddress, namespace: env.TEMPORAL_NAMESPACE, taskQueue, databaseUrl, providers, logger, codecKeys, cipher, sealer, webhooks });
    stoppers.push(() => worker.stop());
    stop.throwIfRequested();
    const metricsPort = (await isPortListening(env.EXTAUTH_METRICS_PORT)) ? await getFreePort() : env.EXTAUTH_METRICS_PORT;
    const metricsServer = await serveMetrics({ port: metricsPort, metrics: worker.metrics, sdkMetricsUrl: `http://127.0.0.1:${sdkMetricsPort}/metrics` });
    stoppers.push(() => new Promise((resolve) => metricsServer.close(resolve)));

    const endpoints: DevEndpoints = { temporalAddress, namespace: env.TEMPORAL_NAMESPACE, taskQueue, uiUrl, databaseUrl, providersFile, codecKeyFile, workerKeyFile, dbKeyFile };
    const published = publishDevEndpoints(env, dataDir, endpoints);
    stoppers.push(async () => published.remove());

    // The agent endpoint (docs/agent-api.md), in this process: agents need only its URL and a key.
    const connection = await Connection.connect({ address: temporalAddress, interceptors: extauthGrpcInterceptors() });
    // Closed last (stoppers run in reverse): a request of the endpoint or the demo that is backing off between gRPC
    // retries fires its timer later, and the SDK's retry interceptor throws on a channel already shut down. Closed
    // last, the process exits right after, before such a timer fires.
    stoppers.unshift(() => connection.close());
    const temporal = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE, dataConverter: extauthDataConverter(codecKeys) });
    const client = new ExtauthClient(temporal, { taskQueue });
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
    stoppers.push(() => pool.end());
    const agentEndpoint = await listenAgentEndpoint(
      { pool, client, providers, logger, requests: createAgentRequestCounter(worker.metrics.registry) },
      { port: 0, host: '127.0.0.1' },
    );
    stoppers.push(() => agentEndpoint.close());
    const agentUrl = agentEndpoint.url;

    if (fake) await seedDemoLinks(pool, fake, DEMO_PROVIDER_ID, cipher);
    // stdout ends up in terminals and CI logs: the database password stays in dev.json (0600), where the CLI reads it.
    const shownDatabaseUrl = withoutPassword(databaseUrl);
    console.log(`extauth ready ${JSON.stringify({ temporalAddress, namespace: env.TEMPORAL_NAMESPACE, taskQueue, uiUrl, databaseUrl: shownDatabaseUrl, agentUrl })}`);
    say(`extauth: Prometheus metrics at http://127.0.0.1:${metricsPort}/metrics`);
    say(`extauth: codec server for the Web UI at ${codecEndpoint}/decode (tokens shown as fingerprints)`);
    say(`extauth: structured logs in ${logFile}; try \`npx extauth status --provider ${demo ? DEMO_PROVIDER_ID : '<id>'} --user ${demo ? DEMO_USERS[0] : '<user>'}\``);

    if (fake) {
      const running = await startDemo({ client, pool, agentUrl, provider: fake, providerId: DEMO_PROVIDER_ID, uiUrl });
      stoppers.push(() => withTimeout(running.stop(), 5_000));
      const relink = relinkByDeviceLater({ client, pool, cipher, fake, provider: providers.find((p) => p.id === DEMO_PROVIDER_ID)!, user: DEMO_REVOKED_USER });
      stoppers.push(() => withTimeout(relink.stop(), 5_000));
    }

    const onStopped = () => stop.request('its worker stopped');
    worker.done.then(onStopped, onStopped);
    const reason = await stop.requested;
    say(`\nextauth: ${reason}, stopping`);
    await shutdown();
    say('extauth: stopped');
    return 0;
  } catch (err) {
    if (err instanceof StopRequested) say(`\nextauth: ${err.reason} during startup, stopping what has started`);
    await shutdown();
    if (!(err instanceof StopRequested)) throw err;
    say('extauth: stopped');
    return 0;
  }
}

function demoProvider(fake: FakeOAuthProvider): ProviderConfig[] {
  return parseProviders([
    {
      id: DEMO_PROVIDER_ID,
      type: 'github',
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      tokenUrl: fake.tokenUrl,
      validateUrl: fake.validateUrl,
      // mallory's device-flow re-link (dev/demo-relink.ts), and `link delete --revoke`.
      deviceAuthorizationUrl: fake.deviceAuthorizationUrl,
      revocationUrl: fake.revocationUrl,
      revocation: fake.revocation,
      // A name under the reserved .test domain: the demo's fake tokens go to no real git host.
      hosts: [DEMO_GIT_HOST],
    },
  ]);
}

/** The demo's webhook receiver (dev/demo-webhooks.ts): it prints the link events it gets, mallory's reauth_required first. */
async function demoWebhooks(stoppers: Stopper[]) {
  const receiver = await startDemoWebhookReceiver();
  stoppers.push(() => receiver.close());
  return receiver.endpoint;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([promise, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref())]);
}

/** `url` with its password replaced by "redacted" (a URL without one unchanged). */
function withoutPassword(url: string): string {
  const parsed = new URL(url);
  if (!parsed.password) return url;
  parsed.password = 'redacted';
  return parsed.toString();
}
