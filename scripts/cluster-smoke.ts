// `npm run cluster:smoke`: extauth on a real multi-service Temporal cluster (dev/cluster/launch.ts: Postgres
// persistence, 4 shards, mTLS, two worker processes, the agent endpoint as its own process), under three stresses:
//   1. concurrency: L links with expired tokens, A agents each through the agent endpoint with their own agent keys,
//      the provider's validation answering 503 right after each refresh;
//   2. a worker SIGKILLed mid-exchange: the provider holds the token answer (a delay fault) and the worker running
//      the exchange (found from the activity's lastWorkerIdentity) is killed; a new worker is started;
//   3. Temporal's matching service restarted while a second round of L links × A agents is in flight.
// Counted from the fake provider: exchanges per link (rotations it performed for that grant), agent failures, and
// lost rotations (the refresh token stored in Postgres is not the provider's live one; as scripts/soak.ts counts).
//
// The killed link's provider has refresh-token reuse detection with a grace window (Okta/Auth0 style): the rotation
// its exchange made died with the worker (the provider counts it as undelivered), the retry on the other worker
// presents the same refresh token within the window and gets the same new tokens back (a grace replay, not a second
// rotation). The invariant checked for it is no lost rotation. On a provider without a grace window a SIGKILL in
// that instant does lose the rotation (docs/reliability.md; test/faults/worker-sigterm shows the control), which is
// why deploys stop workers with SIGTERM and a 30 s grace.
//
// Ends with: cluster-smoke: shards=4 persistence=postgres tls=true workers=2 links=L agents=A exchanges_per_link_max=N failures=N lost_rotations=N
import { Connection } from '@temporalio/client';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { AgentClient } from '../client/agent-client.js';
import { linkWorkflowId } from '../core/ids.js';
import { listenForStop } from '../config/stop-signals.js';
import { clusterRunDir } from '../dev/cluster/run-dir.js';
import { startLocalCluster, type LocalCluster } from '../dev/cluster/launch.js';
import { isRunning, processesNaming } from '../dev/procs.js';
import { createAgentKey } from '../store/agent-keys.js';
import { tokenCipherForProcess } from '../store/db-key.js';
import { getLink, putLink } from '../store/links.js';
import type { TokenCipher } from '../store/token-cipher.js';

const LINKS = Number(process.env.SMOKE_LINKS ?? 3);
const AGENTS = Number(process.env.SMOKE_AGENTS ?? 8);
const AGENT_TIMEOUT_MS = 150_000;
const KILL_HOLD_MS = 5_000;
const GRACE_MS = 120_000;
const say = (msg: string) => process.stderr.write(`${msg}\n`);

interface Tally {
  requests: number;
  failures: string[];
}

async function main(): Promise<number> {
  const stop = listenForStop(say);
  const started = Date.now();
  const dir = clusterRunDir();
  const cluster = await startLocalCluster({ say, dir, checkStop: () => stop.throwIfRequested() });
  const childPids = () => [...Object.values(cluster.services), ...cluster.workers, cluster.agentEndpoint].map((c) => c.pid);
  const everPids = new Set<number>(childPids());
  say(`cluster-smoke: cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const pool = new pg.Pool({ connectionString: cluster.ready.databaseUrl, max: 5 });
  const cipher = tokenCipherForProcess(cluster.extauthEnv, 'cluster-smoke');
  const connection = await Connection.connect({ address: cluster.ready.temporalAddress, tls: tlsOf(cluster) });
  const rotations = new Map<string, number>();
  cluster.provider.onRotate = (family) => rotations.set(family, (rotations.get(family) ?? 0) + 1);
  const tally: Tally = { requests: 0, failures: [] };
  const users: string[] = [];
  let exitCode = 1;
  try {
    // 1. concurrency, validation 503s
    let t = Date.now();
    const round1 = await seedLinks(cluster, pool, cipher, 'burst', LINKS);
    users.push(...round1);
    for (const user of round1) cluster.provider.injectFault('validate', { kind: 'status', status: 503 }, { familyId: user, times: 2 });
    await runAgents(cluster, pool, round1, tally);
    say(`cluster-smoke: concurrency: ${round1.length} links x ${AGENTS} agents in ${((Date.now() - t) / 1000).toFixed(1)} s, failures so far ${tally.failures.length}`);

    // 2. SIGKILL of the worker that runs an exchange, while the provider holds the answer
    t = Date.now();
    const [killUser] = await seedLinks(cluster, pool, cipher, 'kill', 1);
    users.push(killUser!);
    cluster.provider.setReuseDetection(killUser!, { graceMs: GRACE_MS });
    cluster.provider.injectFault('token', { kind: 'hang', ms: KILL_HOLD_MS }, { familyId: killUser!, times: 1 });
    const killAgents = runAgents(cluster, pool, [killUser!], tally, 2);
    const victim = await workerRunningExchange(cluster, connection, killUser!);
    say(`cluster-smoke: SIGKILL worker pid ${victim.pid} (${victim.name}) while the provider holds its exchange`);
    await victim.kill();
    const replacement = await cluster.startWorker();
    everPids.add(replacement.pid);
    await killAgents;
    const undelivered = cluster.provider.stats.undeliveredRotations.get(killUser!) ?? 0;
    say(
      `cluster-smoke: kill: ${((Date.now() - t) / 1000).toFixed(1)} s, undelivered rotations ${undelivered} (the killed worker's), ` +
        `grace replays ${cluster.provider.stats.graceReplays}, rotations of that link ${rotations.get(killUser!) ?? 0}`,
    );
    if (undelivered === 0) tally.failures.push('kill: the worker was not killed mid-exchange (no undelivered rotation): the scenario did not test anything');

    // 3. matching restarted while a round is in flight
    t = Date.now();
    const round3 = await seedLinks(cluster, pool, cipher, 'restart', LINKS);
    users.push(...round3);
    cluster.provider.setLatency('token', 1_000);
    const agents3 = runAgents(cluster, pool, round3, tally);
    await sleep(300);
    say('cluster-smoke: restarting Temporal matching (SIGTERM, start again) with exchanges in flight');
    await cluster.services.matching.restart(10_000);
    everPids.add(cluster.services.matching.pid);
    await agents3;
    cluster.provider.setLatency('token', 0);
    say(`cluster-smoke: matching restart: ${((Date.now() - t) / 1000).toFixed(1)} s, failures so far ${tally.failures.length}`);

    // invariants
    const lost = await lostRotations(cluster, pool, cipher, users);
    const exchangesMax = Math.max(...users.map((u) => rotations.get(u) ?? 0));
    for (const f of tally.failures.slice(0, 10)) say(`cluster-smoke: failure: ${f}`);
    console.log(
      `cluster-smoke: shards=${cluster.ready.shards} persistence=${cluster.ready.persistence} tls=${cluster.ready.tls} workers=${cluster.ready.workers} ` +
        `links=${users.length} agents=${tally.requests} exchanges_per_link_max=${exchangesMax} failures=${tally.failures.length} lost_rotations=${lost}`,
    );
    exitCode = tally.failures.length === 0 && lost === 0 && exchangesMax <= 1 ? 0 : 1;
  } catch (err) {
    say(`cluster-smoke: ${(err as Error).stack ?? err}`);
  } finally {
    cluster.provider.onRotate = undefined;
    await connection.close();
    await pool.end();
    await cluster.stop();
  }
  const leftovers = await leftoverProcesses(dir, [...everPids]);
  say(`cluster-smoke: stopped; leftover processes: ${leftovers.length ? leftovers.join(' ') : 'none'}; total ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return leftovers.length ? 1 : exitCode;
}

function tlsOf(cluster: LocalCluster) {
  const r = cluster.ready;
  return { serverNameOverride: r.serverName, serverRootCACertificate: readFileSync(r.caCert), clientCertPair: { crt: readFileSync(r.clientCert), key: readFileSync(r.clientKey) } };
}

/** Links whose access token expired a minute ago: the first agent's request makes the run exchange at once. */
async function seedLinks(cluster: LocalCluster, pool: pg.Pool, cipher: TokenCipher | undefined, prefix: string, n: number): Promise<string[]> {
  const users: string[] = [];
  for (let i = 0; i < n; i++) {
    const user = `${prefix}-${i}`;
    const grant = cluster.provider.issueGrant({ familyId: user });
    await putLink(pool, { providerId: cluster.providerId, userId: user }, {
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      tokenType: 'bearer',
      expiresAt: new Date(Date.now() - 60_000).toISOString(),
      extra: {},
    }, cipher);
    users.push(user);
  }
  return users;
}

/** `perLink` agents per link, each with its own agent key, all at once; a token that is not live at the provider counts as a failure. */
async function runAgents(cluster: LocalCluster, pool: pg.Pool, users: string[], tally: Tally, perLink = AGENTS): Promise<void> {
  const agents: Promise<void>[] = [];
  for (const user of users) {
    for (let a = 0; a < perLink; a++) {
      const { key } = await createAgentKey(pool, { providerId: cluster.providerId, userId: user, name: `smoke agent ${a}`, ttlSeconds: 3_600 });
      const client = new AgentClient({ url: cluster.ready.agentUrl, key, requestTimeoutMs: AGENT_TIMEOUT_MS });
      tally.requests++;
      agents.push(
        client.getToken({ provider: cluster.providerId, user, minValidSeconds: 60 }).then(
          (grant) => {
            if (!cluster.provider.isAccessTokenValid(grant.accessToken)) tally.failures.push(`${user}: served an access token the provider does not accept`);
          },
          (err) => {
            tally.failures.push(`${user}: ${(err as Error).message.slice(0, 300)}`);
          },
        ),
      );
    }
  }
  await Promise.all(agents);
}

/** The worker process running the link's exchange: the activity's lastWorkerIdentity is the SDK's default `pid@host`. */
async function workerRunningExchange(cluster: LocalCluster, connection: Connection, user: string) {
  const workflowId = linkWorkflowId({ providerId: cluster.providerId, userId: user });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const held = (cluster.provider.stats.tokenCallsByFamily.get(user) ?? 0) > 0;
    if (held) {
      const description = await connection.workflowService
        .describeWorkflowExecution({ namespace: cluster.ready.namespace, execution: { workflowId } })
        .catch(() => undefined);
      for (const activity of description?.pendingActivities ?? []) {
        const pid = Number(activity.lastWorkerIdentity?.split('@')[0]);
        const worker = cluster.workers.find((w) => w.pid === pid && w.running);
        if (worker && /exchange/i.test(activity.activityType?.name ?? '')) return worker;
      }
    }
    await sleep(100);
  }
  throw new Error(`no worker was found running the exchange of ${user} within 60 s`);
}

/** Links whose stored refresh token is not the provider's live one, after in-flight persists settle (scripts/soak.ts). */
async function lostRotations(cluster: LocalCluster, pool: pg.Pool, cipher: TokenCipher | undefined, users: string[]): Promise<number> {
  let lost = 0;
  for (const user of users) {
    const until = Date.now() + 15_000;
    for (;;) {
      const row = await getLink(pool, { providerId: cluster.providerId, userId: user }, cipher);
      const live = cluster.provider.liveRefreshToken(user);
      if (live !== undefined && row?.refreshToken === live) break;
      if (Date.now() > until) {
        say(`cluster-smoke: LOST rotation on ${user}: stored refresh token is not the provider's live one (${row?.failureReason ?? 'no failure recorded'})`);
        lost++;
        break;
      }
      await sleep(250);
    }
  }
  return lost;
}

/** Any process the run started that is still alive, or any process whose command line names the run's folder. */
async function leftoverProcesses(dir: string, pids: number[]): Promise<string[]> {
  const left: string[] = [];
  for (const pid of pids) if (await isRunning(pid)) left.push(String(pid));
  for (const { pid, args } of await processesNaming(dir)) left.push(`${pid}:${args.slice(0, 2).join(' ')}`);
  return [...new Set(left)];
}

process.exitCode = await main();
