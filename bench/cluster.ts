// `npm run bench -- --cluster [--quick] [--latency MS] [--out FILE]`: P2 (one cold refresh, at the provider latency
// and at 0 ms) and P4 (the herd: N expired links, one agent each, 50 at a time, clean and with 10% validation 503s)
// on the real multi-service cluster of `npm run cluster` (dev/cluster/launch.ts: 4 history shards, PostgreSQL
// persistence, mTLS, extauth workers as separate processes), with 2 and then 1 worker processes; beside the
// dev-server figures of the same run (bench/run.ts --only P2,P4, run first as a child so the two never share the CPU).
// The fake provider lives in this process (the launcher's), so rotations and lost links are counted as in bench/run.ts.
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ExtauthClient, extauthGrpcInterceptors } from '../client/index.js';
import { extauthDataConverter } from '../codec/data-converter.js';
import { codecKeysFromEnv } from '../codec/keys.js';
import { listenForStop } from '../config/stop-signals.js';
import { linkWorkflowId } from '../core/ids.js';
import { startLocalCluster, type LocalCluster } from '../dev/cluster/launch.js';
import { tokenCipherForProcess } from '../store/db-key.js';
import { getLink, putLink } from '../store/links.js';
import type { TokenCipher } from '../store/token-cipher.js';
import { round, summarize, timed, withConcurrency, type Summary } from './stats.js';

const HERD_CONCURRENCY = 50;
const CALL_TIMEOUT_MS = 60_000;
const WORKER_STOP_GRACE_MS = 30_000;
const log = (msg: string) => console.error(`bench cluster: ${msg}`);

interface Options {
  quick: boolean;
  latencyMs: number;
  out: string;
}

interface Herd {
  wallMs: number;
  throughput: number;
  failures: number;
  firstFailure?: string;
  lost: number;
}

interface ClusterFigures {
  workers: number;
  P2: { at: { providerLatencyMs: number; extauth: Summary; failures: number }[] };
  P4: { links: number; clean: Herd; validation503: Herd };
  historyPerColdRefresh: { events: number; bytes: number };
}

function parseOptions(argv: string[]): Options {
  const option = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    quick: argv.includes('--quick'),
    latencyMs: Number(option('--latency') ?? 50),
    out: option('--out') ?? fileURLToPath(new URL('./cluster-results.json', import.meta.url)),
  };
}

/** Runs the whole comparison; resolves with the process's exit code. */
export async function runClusterBench(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  const sizes = options.quick ? { p2Samples: 15, p4Links: 200 } : { p2Samples: 60, p4Links: 1000 };
  const started = Date.now();
  const loadAtStart = loadavg().map((x) => round(x));
  const work = await mkdtemp(join(tmpdir(), 'extauth-bench-cluster-'));
  await chmod(work, 0o711); // as root, Postgres runs as "postgres" and must enter it (the cluster's own folder stays 0700)
  const stop = listenForStop(log);
  try {
    log(`dev server first: bench/run.ts --only P2,P4${options.quick ? ' --quick' : ''} --latency ${options.latencyMs}`);
    const dev = await devServerFigures(options, join(work, 'dev.json'));
    stop.throwIfRequested();

    log('starting the cluster (npm run cluster without its ready line)');
    const cluster = await startLocalCluster({ say: log, dir: join(work, 'cluster'), checkStop: () => stop.throwIfRequested() });
    let bench: ClusterBench | undefined;
    const figures: ClusterFigures[] = [];
    try {
      bench = await ClusterBench.open(cluster, options.latencyMs, sizes);
      for (const workers of [2, 1]) {
        while (cluster.workers.filter((w) => w.running).length > workers) {
          const worker = cluster.workers.filter((w) => w.running).at(-1)!;
          log(`stopping ${worker.name} (SIGTERM): ${workers} worker process(es) from now on`);
          await worker.stop(WORKER_STOP_GRACE_MS);
        }
        figures.push(await bench.measure(workers, stop.throwIfRequested));
      }
    } finally {
      await bench?.close();
      await cluster.stop();
    }
    const results = {
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGB: round(totalmem() / 2 ** 30, 1), node: process.version, loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadavg().map((x) => round(x)) },
      command: `npm run bench -- --cluster${options.quick ? ' --quick' : ''}`,
      providerLatencyMs: options.latencyMs,
      cluster: { temporalServer: '1.32.2, frontend/history/matching/worker as separate processes', shards: cluster.ready.shards, persistence: cluster.ready.persistence, tls: cluster.ready.tls },
      devServer: dev,
      clusterRuns: figures,
      startedAt: new Date(started).toISOString(),
      durationSeconds: Math.round((Date.now() - started) / 1000),
    };
    await writeFile(options.out, `${JSON.stringify(results, null, 2)}\n`);
    console.log(table(results.devServer, figures, results.machine, options));
    console.log(`\nwritten to ${options.out}`);
    const clean = figures.every((f) => f.P4.clean.failures + f.P4.clean.lost + f.P4.validation503.failures + f.P4.validation503.lost === 0);
    return clean ? 0 : 1;
  } catch (err) {
    log(stop.reason ? `${stop.reason}: stopped` : `failed: ${(err as Error).stack ?? err}`);
    return 1;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** bench/run.ts as a child process (its own dev server, Postgres and provider): its P2 and P4 figures. */
async function devServerFigures(options: Options, out: string): Promise<Record<string, any>> {
  const args = ['--import', 'tsx', fileURLToPath(new URL('./run.ts', import.meta.url)), '--only', 'P2,P4', '--latency', String(options.latencyMs), '--out', out];
  if (options.quick) args.push('--quick');
  const child = spawn(process.execPath, args, { stdio: ['ignore', process.stderr, process.stderr] });
  // SIGINT/SIGTERM to this process stop the child too; it stops its dev server and Postgres itself.
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  for (const [s, h] of handlers) process.off(s, h);
  if (code !== 0) throw new Error(`the dev-server bench (bench/run.ts) exited ${code}`);
  const r = JSON.parse(await readFile(out, 'utf8'));
  return { machine: r.machine, P2: r.P2, P4: r.P4 };
}

class ClusterBench {
  private constructor(
    private readonly cluster: LocalCluster,
    private readonly connection: Connection,
    private readonly temporal: Client,
    private readonly extauth: ExtauthClient,
    private readonly pool: pg.Pool,
    private readonly cipher: TokenCipher | undefined,
    private readonly latencyMs: number,
    private readonly sizes: { p2Samples: number; p4Links: number },
  ) {}

  static async open(cluster: LocalCluster, latencyMs: number, sizes: { p2Samples: number; p4Links: number }): Promise<ClusterBench> {
    const r = cluster.ready;
    const tls = {
      serverNameOverride: r.serverName,
      serverRootCACertificate: await readFile(r.caCert),
      clientCertPair: { crt: await readFile(r.clientCert), key: await readFile(r.clientKey) },
    };
    const connection = await Connection.connect({ address: r.temporalAddress, tls, interceptors: extauthGrpcInterceptors() });
    const temporal = new Client({ connection, namespace: r.namespace, dataConverter: extauthDataConverter(codecKeysFromEnv(cluster.extauthEnv)) });
    const extauth = new ExtauthClient(temporal, { taskQueue: r.taskQueue });
    const pool = new pg.Pool({ connectionString: r.databaseUrl, max: 8 });
    const cipher = tokenCipherForProcess(cluster.extauthEnv, 'bench cluster');
    return new ClusterBench(cluster, connection, temporal, extauth, pool, cipher, latencyMs, sizes);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.connection.close(), this.pool.end()]);
  }

  async measure(workers: number, checkStop: () => void): Promise<ClusterFigures> {
    const tag = `w${workers}`;
    const p2: ClusterFigures['P2']['at'] = [];
    for (const latency of [this.latencyMs, 0]) {
      p2.push(await this.p2(`${tag}-l${latency}`, latency));
      checkStop();
    }
    const history = await this.history(linkWorkflowId(this.key(`p2-${tag}-l${this.latencyMs}-3`)));
    const clean = await this.herd(`${tag}-ok`, false);
    checkStop();
    const validation503 = await this.herd(`${tag}-f`, true);
    return { workers, P2: { at: p2 }, P4: { links: this.sizes.p4Links, clean, validation503 }, historyPerColdRefresh: history };
  }

  private key(user: string) {
    return { providerId: this.cluster.providerId, userId: user };
  }

  private getToken(user: string) {
    return this.extauth.getToken({ provider: this.cluster.providerId, user, minValidSeconds: 60 });
  }

  private async seed(users: string[]): Promise<void> {
    await withConcurrency(users.length, 8, async (i) => {
      const grant = this.cluster.provider.issueGrant({ familyId: users[i]! });
      await putLink(
        this.pool,
        this.key(users[i]!),
        { accessToken: grant.accessToken, refreshToken: grant.refreshToken, tokenType: 'bearer', expiresAt: new Date(Date.now() - 10_000).toISOString(), extra: {} },
        this.cipher,
      );
    });
  }

  /** One cold refresh at a time (as bench/run.ts P2: the first 3 are warm-up). */
  private async p2(tag: string, latencyMs: number) {
    const provider = this.cluster.provider;
    provider.setLatency('token', latencyMs);
    provider.setLatency('validate', latencyMs);
    const warm = 3;
    const users = Array.from({ length: this.sizes.p2Samples + warm }, (_, i) => `p2-${tag}-${i}`);
    await this.seed(users);
    const samples: number[] = [];
    let failures = 0;
    for (const [i, user] of users.entries()) {
      const ms = await timed(() => this.getToken(user).catch(() => void failures++));
      if (i >= warm) samples.push(ms);
    }
    const extauth = summarize(samples);
    log(`P2 @${latencyMs} ms (${tag}): p50 ${extauth.p50} ms, p99 ${extauth.p99} ms, failures ${failures}`);
    return { providerLatencyMs: latencyMs, extauth, failures };
  }

  /** P4: every link expired, one agent each, 50 at a time; with 503s, the first validation of every tenth link fails. */
  private async herd(tag: string, faulty: boolean): Promise<Herd> {
    const provider = this.cluster.provider;
    provider.setLatency('token', this.latencyMs);
    provider.setLatency('validate', this.latencyMs);
    const users = Array.from({ length: this.sizes.p4Links }, (_, i) => `p4-${tag}-${i}`);
    await this.seed(users);
    if (faulty) for (const u of users.filter((_, i) => i % 10 === 0)) provider.injectFault('validate', { kind: 'status', status: 503 }, { familyId: u, times: 1 });
    let failures = 0;
    let firstFailure: string | undefined;
    const wallMs = await timed(() =>
      withConcurrency(users.length, HERD_CONCURRENCY, async (i) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            this.getToken(users[i]!),
            new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${CALL_TIMEOUT_MS} ms`)), CALL_TIMEOUT_MS))),
          ]);
        } catch (err) {
          failures++;
          firstFailure ??= String((err as Error).message).slice(0, 200);
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    let lost = 0;
    for (const u of users) if ((await getLink(this.pool, this.key(u), this.cipher))?.refreshToken !== provider.liveRefreshToken(u)) lost++;
    const herd = { wallMs: Math.round(wallMs), throughput: round(users.length / (wallMs / 1000), 1), failures, firstFailure, lost };
    log(`P4 ${faulty ? '10% 503' : 'clean'} (${tag}): ${herd.wallMs} ms, ${herd.throughput}/s, failures ${failures}, lost rotations ${lost}`);
    return herd;
  }

  private async history(workflowId: string): Promise<{ events: number; bytes: number }> {
    const events: proto.temporal.api.history.v1.IHistoryEvent[] = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await this.temporal.workflowService.getWorkflowExecutionHistory({ namespace: this.cluster.ready.namespace, execution: { workflowId }, nextPageToken });
      events.push(...(page.history?.events ?? []));
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    return { events: events.length, bytes: proto.temporal.api.history.v1.History.encode({ events }).finish().length };
  }
}

function table(dev: Record<string, any>, runs: ClusterFigures[], machine: { cpus: number; cpuModel?: string; loadAverageAtStart: number[]; loadAverageAtEnd: number[] }, options: Options): string {
  const rows: string[][] = [['', 'dev server', ...runs.map((r) => `cluster, ${r.workers} worker${r.workers > 1 ? 's' : ''}`), ...runs.map((r) => `ratio ${r.workers}w/dev`)]];
  const ms = (s?: Summary) => (s ? `${s.p50} / ${s.p99} ms` : '-');
  const devP2 = [dev.P2, dev.P2?.at0ms];
  runs[0]!.P2.at.forEach((a, i) => {
    rows.push([`P2 refresh @${a.providerLatencyMs} ms p50/p99`, ms(devP2[i]?.extauth), ...runs.map((r) => ms(r.P2.at[i]!.extauth)), ...runs.map((r) => `${round(r.P2.at[i]!.extauth.p50 / devP2[i]?.extauth?.p50)}`)]);
  });
  for (const [name, key, devKey] of [['clean', 'clean', 'clean'], ['10% 503', 'validation503', 'validation503']] as const) {
    const d = dev.P4?.[devKey]?.extauth;
    rows.push([
      `P4 herd ${runs[0]!.P4.links} (${name}) throughput`,
      d ? `${d.throughput}/s` : '-',
      ...runs.map((r) => `${r.P4[key].throughput}/s`),
      ...runs.map((r) => (d ? `${round(r.P4[key].throughput / d.throughput)}` : '-')),
    ]);
    rows.push([`P4   failures / lost rotations`, d ? `${d.failures.count} / ${d.lost}` : '-', ...runs.map((r) => `${r.P4[key].failures} / ${r.P4[key].lost}`), ...runs.map(() => '')]);
  }
  rows.push(['history per cold refresh', '', ...runs.map((r) => `${r.historyPerColdRefresh.events} ev, ${r.historyPerColdRefresh.bytes} B`), ...runs.map(() => '')]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length)));
  const line = (row: string[]) => `| ${row.map((cell, c) => (cell ?? '').padEnd(widths[c]!)).join(' | ')} |`;
  return [
    `extauth bench on a cluster — ${machine.cpus} × ${machine.cpuModel}; provider latency ${options.latencyMs} ms; ${options.quick ? 'quick' : 'full'}; load ${machine.loadAverageAtStart.join(' ')} → ${machine.loadAverageAtEnd.join(' ')}`,
    line(rows[0]!),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.slice(1).map(line),
  ].join('\n');
}
