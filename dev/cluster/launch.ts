// `npm run cluster`: extauth on a real multi-service Temporal cluster on this machine. Temporal Server (built once
// into .tools/) with PostgreSQL persistence and SQL visibility, 4 history shards, mTLS on the frontend; its four
// services as separate processes; then `extauth setup-namespace`, two `extauth worker` processes and one
// `extauth agent-endpoint`, all connected through Temporal's environment configuration (TEMPORAL_TLS_*), as a
// deployment would. A fake OAuth provider stands in for GitHub. Everything lives in one 0700 folder for the run,
// removed on stop; SIGTERM/SIGINT stop everything it started.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { formatCodecKey, generateCodecKey } from '../../codec/keys.js';
import { ensurePrivateDir, writePrivateFile } from '../../core/private-files.js';
import { parseProviders, type ProviderConfig } from '../../providers/config.js';
import { FakeOAuthProvider } from '../fake-provider.js';
import { getFreePort, isPortListening } from '../ports.js';
import { startEmbeddedPostgres } from '../postgres.js';
import { repoRoot } from '../temporal.js';
import { ensureTemporalServerBuilt, type TemporalServerBuild } from './build.js';
import { ensureClusterCerts, type ClusterCerts } from './certs.js';
import { ClusterChild } from './children.js';
import { CLUSTER_SERVICES, HISTORY_SHARDS, writeClusterConfig, type ClusterService, type ServicePorts } from './config.js';

const run = promisify(execFile);
export const CLUSTER_PROVIDER_ID = 'cluster-github';
const NAMESPACE = 'extauth';
const TASK_QUEUE = 'extauth';
const WORKERS = 2;
/** Workers drain in-flight exchanges on SIGTERM for up to 20 s (worker.ts): give them that and a margin. */
const WORKER_STOP_GRACE_MS = 30_000;
const SERVICE_STOP_GRACE_MS = 10_000;
const EXTAUTH_BIN = join(repoRoot, 'bin', 'extauth.js');

export interface ClusterReady {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  databaseUrl: string;
  agentUrl: string;
  caCert: string;
  clientCert: string;
  clientKey: string;
  serverName: string;
  shards: number;
  persistence: 'postgres';
  tls: true;
  workers: number;
}

export interface LocalCluster {
  ready: ClusterReady;
  /** The environment extauth's processes get: Temporal TLS variables and the three keys. */
  extauthEnv: NodeJS.ProcessEnv;
  provider: FakeOAuthProvider;
  providerId: string;
  workers: ClusterChild[];
  agentEndpoint: ClusterChild;
  services: Record<ClusterService, ClusterChild>;
  /** Starts a new worker process (after one was killed, say) and waits until it polls. */
  startWorker(): Promise<ClusterChild>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  say: (msg: string) => void;
  /** Folder for this run (created 0700, removed on stop). */
  dir: string;
  /** Throws StopRequested between steps when a stop was asked for during startup. */
  checkStop?: () => void;
}

type Stopper = () => Promise<unknown>;

export async function startLocalCluster(options: ClusterOptions): Promise<LocalCluster> {
  const { say, dir } = options;
  const checkStop = options.checkStop ?? (() => undefined);
  const stoppers: Stopper[] = [];
  const stopAll = async () => {
    for (const stop of stoppers.splice(0).reverse()) await stop().catch((err) => say(`extauth cluster: while stopping: ${(err as Error).message}`));
  };
  try {
    const build = await ensureTemporalServerBuilt(say);
    checkStop();
    mkdirSync(dir, { recursive: true });
    ensurePrivateDir(dir);
    stoppers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const logs = join(dir, 'logs');
    ensurePrivateDir(logs);

    say('extauth cluster: starting Postgres');
    const postgres = await startEmbeddedPostgres({ dataDir: join(dir, 'postgres'), persistent: false, log: say });
    stoppers.push(() => postgres.stop());
    const password = decodeURIComponent(new URL(postgres.databaseUrl).password);
    await createTemporalDatabases(build, postgres.port, password);
    checkStop();

    const certs = await ensureClusterCerts(join(dir, 'tls'));
    const ports = await servicePorts();
    const configFile = writeClusterConfig({ dir, postgres: { port: postgres.port, password }, ports, certs });
    const temporalAddress = `127.0.0.1:${ports.frontend.grpcPort}`;
    say(`extauth cluster: starting Temporal ${CLUSTER_SERVICES.join(', ')} (${HISTORY_SHARDS} shards, frontend ${temporalAddress}, mTLS)`);
    const services = {} as Record<ClusterService, ClusterChild>;
    for (const service of CLUSTER_SERVICES) {
      services[service] = new ClusterChild(
        `temporal ${service}`,
        build.serverBin,
        ['--config-file', configFile, '--allow-no-auth', 'start', '--service', service],
        { PATH: process.env.PATH, HOME: process.env.HOME },
        join(logs, `temporal-${service}.log`),
      );
      stoppers.push(() => services[service].stop(SERVICE_STOP_GRACE_MS));
      // The first service writes the cluster metadata; started together, the others fail on its version check.
      if (service === CLUSTER_SERVICES[0]) {
        await services[service].waitUntil(() => isPortListening(ports[service].grpcPort), 60_000, `${service} listening`);
      }
    }
    await waitForFrontend(services.frontend, temporalAddress, certs);
    checkStop();

    const keys = writeKeys(join(dir, 'keys'));
    const provider = await FakeOAuthProvider.start({ accessTokenLifetimeSeconds: 3600 });
    stoppers.push(() => provider.close());
    const providersFile = join(dir, 'providers.json');
    writePrivateFile(providersFile, JSON.stringify(clusterProviders(provider), null, 2));

    const common: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      // Commands beside this cluster must not pick up a running `extauth dev`'s dev.json or keys.
      EXTAUTH_DATA_DIR: dir,
      EXTAUTH_LOG_LEVEL: process.env.EXTAUTH_LOG_LEVEL ?? 'info',
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: NAMESPACE,
      EXTAUTH_TASK_QUEUE: TASK_QUEUE,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert,
      TEMPORAL_TLS_CLIENT_CERT_PATH: certs.clientCert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: certs.clientKey,
      TEMPORAL_TLS_SERVER_NAME: certs.serverName,
      DATABASE_URL: postgres.databaseUrl,
      EXTAUTH_PROVIDERS: providersFile,
      EXTAUTH_CODEC_KEY: keys.codec,
    };
    const extauth = (name: string, args: string[], env: NodeJS.ProcessEnv) =>
      new ClusterChild(name, process.execPath, [EXTAUTH_BIN, ...args], env, join(logs, `${name.replaceAll(' ', '-')}.log`));

    say('extauth cluster: extauth setup-namespace');
    const setup = extauth('extauth setup-namespace', ['setup-namespace', '--retention-days', '3'], common);
    const setupCode = await setup.waitForExit();
    if (setupCode !== 0) throw new Error(`extauth setup-namespace exited ${setupCode}; log ${setup.logFile}:\n${setup.logTail()}`);

    // The workers do not migrate: `extauth migrate` first, as a deployment would.
    const migrate = extauth('extauth migrate', ['migrate'], common);
    if ((await migrate.waitForExit()) !== 0) throw new Error(`extauth migrate failed; log ${migrate.logFile}:\n${migrate.logTail()}`);

    const workerEnv = async (): Promise<NodeJS.ProcessEnv> => ({
      ...common,
      EXTAUTH_WORKER_KEY: keys.worker,
      EXTAUTH_DB_KEY: keys.db,
      EXTAUTH_METRICS_PORT: String(await getFreePort()),
    });
    const workers: ClusterChild[] = [];
    let workerCount = 0;
    const startWorker = async () => {
      const worker = extauth(`extauth worker ${++workerCount}`, ['worker'], await workerEnv());
      workers.push(worker);
      await worker.waitUntil(() => logHas(worker.logFile, '"msg":"worker started"'), 120_000, 'worker start');
      return worker;
    };
    stoppers.push(() => Promise.all(workers.map((w) => w.stop(WORKER_STOP_GRACE_MS))));
    say(`extauth cluster: starting ${WORKERS} extauth workers and the agent endpoint`);
    const agentPort = await getFreePort();
    const agentEndpoint = extauth('extauth agent-endpoint', ['agent-endpoint', '--port', String(agentPort)], common);
    stoppers.push(() => agentEndpoint.stop(SERVICE_STOP_GRACE_MS));
    await Promise.all([
      ...Array.from({ length: WORKERS }, () => startWorker()),
      agentEndpoint.waitUntil(() => isPortListening(agentPort), 60_000, 'agent endpoint listening'),
    ]);
    checkStop();

    const ready: ClusterReady = {
      temporalAddress,
      namespace: NAMESPACE,
      taskQueue: TASK_QUEUE,
      databaseUrl: postgres.databaseUrl,
      agentUrl: `http://127.0.0.1:${agentPort}`,
      caCert: certs.caCert,
      clientCert: certs.clientCert,
      clientKey: certs.clientKey,
      serverName: certs.serverName,
      shards: HISTORY_SHARDS,
      persistence: 'postgres',
      tls: true,
      workers: WORKERS,
    };
    return {
      ready,
      extauthEnv: { ...common, EXTAUTH_WORKER_KEY: keys.worker, EXTAUTH_DB_KEY: keys.db },
      provider,
      providerId: CLUSTER_PROVIDER_ID,
      workers,
      agentEndpoint,
      services,
      startWorker,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** temporal and temporal_visibility: created, then their schemas at version 0.0 and updated to the newest. */
async function createTemporalDatabases(build: TemporalServerBuild, port: number, password: string): Promise<void> {
  // The password goes in SQL_PASSWORD, never on a command line.
  const env = { PATH: process.env.PATH, SQL_PASSWORD: password };
  for (const [database, schema] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']] as const) {
    const sql = async (...args: string[]) => {
      try {
        await run(build.sqlToolBin, ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(port), '-u', 'postgres', '--db', database, ...args], { env });
      } catch (err) {
        throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed: ${(err as { stderr?: string }).stderr?.slice(-2000) ?? (err as Error).message}`);
      }
    };
    await sql('create-database');
    await sql('setup-schema', '-v', '0.0');
    await sql('update-schema', '-d', join(build.postgresSchemaDir, schema, 'versioned'));
  }
}

/**
 * Temporal stores membership ports in a smallint column (cluster_membership.rpc_port): above 32767 the service dies
 * with "out of range for type smallint". The OS hands out ephemeral ports above that, so these are picked by hand.
 */
async function portBelow32768(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port between 20000 and 32000 on 127.0.0.1');
}

async function servicePorts(): Promise<Record<ClusterService, ServicePorts>> {
  const ports = {} as Record<ClusterService, ServicePorts>;
  const taken = new Set<number>();
  for (const service of CLUSTER_SERVICES) {
    ports[service] = {
      grpcPort: await portBelow32768(taken),
      membershipPort: await portBelow32768(taken),
      ...(service === 'frontend' ? { httpPort: await portBelow32768(taken) } : {}),
    };
  }
  return ports;
}

/** The frontend answers health checks over mTLS once history and matching have joined. */
async function waitForFrontend(frontend: ClusterChild, address: string, certs: ClusterCerts): Promise<void> {
  const tls = {
    serverNameOverride: certs.serverName,
    serverRootCACertificate: readFileSync(certs.caCert),
    clientCertPair: { crt: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) },
  };
  await frontend.waitUntil(
    async () => {
      const connection = await Connection.connect({ address, tls, connectTimeout: 1_000 }).catch(() => undefined);
      if (!connection) return false;
      try {
        await connection.withDeadline(Date.now() + 2_000, () => connection.workflowService.describeNamespace({ namespace: 'temporal-system' }));
        return true;
      } catch {
        return false;
      } finally {
        await connection.close();
      }
    },
    120_000,
    'healthy frontend',
  );
}

function writeKeys(dir: string): { codec: string; worker: string; db: string } {
  ensurePrivateDir(dir);
  const keys = { codec: formatCodecKey(generateCodecKey('cluster-codec')), worker: formatCodecKey(generateCodecKey('cluster-worker')), db: formatCodecKey(generateCodecKey('cluster-db')) };
  for (const [name, key] of Object.entries(keys)) writePrivateFile(join(dir, `${name}.key`), `${key}\n`);
  return keys;
}

function clusterProviders(fake: FakeOAuthProvider): ProviderConfig[] {
  return parseProviders([
    {
      id: CLUSTER_PROVIDER_ID,
      type: 'github',
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      tokenUrl: fake.tokenUrl,
      validateUrl: fake.validateUrl,
      // So that `extauth link login --browser|--device` signs a user in against the cluster, as docs/deployment.md does.
      authorizeUrl: fake.authorizeUrl,
      deviceAuthorizationUrl: fake.deviceAuthorizationUrl,
      hosts: ['git.cluster.test'],
    },
  ]);
}

function logHas(file: string, text: string): boolean {
  try {
    return readFileSync(file, 'utf8').includes(text);
  } catch {
    return false;
  }
}
