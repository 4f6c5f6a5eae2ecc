// Bounded chaos soak: ~300 links, ~30 concurrent agents, a random (seeded) mix of provider faults and
// periodic SIGKILLs of worker processes, against its own Temporal dev server and Postgres. Stops by itself.
//
//   npm run soak -- [--duration 180] [--links 300] [--agents 30] [--kill-every 25] [--seed 1] [--against extauth|reference]
//                   [--mix random|validate-5xx]
//
// --mix random (default): per link a seeded random script of transient token and validate faults, 3% an
// ambiguous token fault (rotated, answer lost), 2% a grant revoked mid-run; 60% GitHub-style links,
// 20% reuse detection without grace, 20% with a 30 s grace window. --mix validate-5xx: every validation
// right after a rotation answers 503 once (the report's bug, deterministic).
//
// Ends with one line
//   soak: links=N requests=N refreshes=N kills=N lost_rotations=N false_reauths=N stale_tokens_served=N leaked_tokens=N
// and exits 1 when any of the last four is not 0. `--against reference` runs the same agents and faults on
// bench/reference/reference-refresh.ts (no workflow, no workers, hence no kills).
//
// Workers are child processes of test/faults/support/hooked-worker.ts with no pause armed: the same worker
// as `extauth worker` (same activities, workflows, codec), started from a prebuilt workflow bundle so
// that a restart after each kill does not spend CPU on bundling.
import { fingerprint } from '../core/fingerprint.js';
import { bundleWorkflowCode } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { referenceGetToken } from '../bench/reference/reference-refresh.js';
import { ExtauthError } from '../client/index.js';
import { TunedExtauthClient } from '../client/tuned-client.js';
import { extauthDataConverter, FAILURE_CONVERTER_PATH } from '../codec/data-converter.js';
import { formatCodecKey, generateCodecKey, makeCodecKeys, parseCodecKey } from '../codec/keys.js';
import { ensurePrivateDir, writePrivateFile } from '../core/private-files.js';
import { FakeOAuthProvider, type FakeFault } from '../dev/fake-provider.js';
import { startEmbeddedPostgres } from '../dev/postgres.js';
import { startTemporalDevServer } from '../dev/temporal.js';
import { historyToJSONText } from '../cli/commands/history.js';
import { parseProviders } from '../providers/config.js';
import { getLink, putLink } from '../store/links.js';
import { migrateUp } from '../store/migrate.js';
import type { Tuning } from '../workflows/policies.js';
import { DEV_SERVER_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';
import { linkWorkflowId } from '../core/ids.js';
import { WORKFLOWS_PATH } from '../worker.js';
import { createProviderHttpClient } from '../worker/activity-deps.js';

const { EventType, WorkflowTaskFailedCause, TimeoutType } = proto.temporal.api.enums.v1;
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const WORKER_ENTRY = join(ROOT, 'test/faults/support/hooked-worker.ts');
const PROVIDER_ID = 'soak-github';
/** Agents ask for tokens with this much life left, at most: a third of the tokens' lifetime for short-lived ones. */
const minValidSeconds = (tokenLifetime: number) => Math.min(30, Math.floor(tokenLifetime / 3));
/**
 * A rotation this close to a SIGKILL may belong to an exchange that was in flight on the killed worker: the
 * provider rotated, and the answer died with the process before the exchange journaled it on the row (one
 * UPDATE right after the answer; docs/reliability.md). An answer journaled before the kill is recovered by the
 * retry, so a loss further from a kill than this is a real loss.
 */
const KILL_WINDOW_MS = 1_000;
/** How long the final check waits for a link whose run is still saving a rotation it just made. */
const SETTLE_MS = 20_000;
/** A request slower than this is reported with the history of its link's runs (extauth). */
const SLOW_REQUEST_MS = 30_000;
/** Worker log lines printed per link that was served a stale token (its last ones). */
const STALE_TRACE_LINES = 40;
const TUNING: Partial<Tuning> = {
  exchangeAttemptMs: 3_000,
  exchangeBudgetMs: 60_000,
  validateAttemptMs: 2_000,
  validateBudgetMs: 15_000,
  retryInitialMs: 200,
  retryMaxMs: 2_000,
};

interface Options {
  duration: number;
  links: number;
  agents: number;
  killEvery: number;
  /** Access-token lifetime (s); runs refresh each link ahead of expiry, at half its life. */
  tokenLifetime: number;
  seed: number;
  against: 'extauth' | 'reference';
  mix: 'random' | 'validate-5xx';
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '180' },
      links: { type: 'string', default: '300' },
      agents: { type: 'string', default: '30' },
      'kill-every': { type: 'string', default: '25' },
      'token-lifetime': { type: 'string', default: '60' },
      seed: { type: 'string', default: '1' },
      against: { type: 'string', default: 'extauth' },
      mix: { type: 'string', default: 'random' },
    },
    strict: true,
    allowPositionals: false,
  });
  const num = (name: string, value: string, min: number, max: number): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number between ${min} and ${max}, got "${value}"`);
    return n;
  };
  if (values.against !== 'extauth' && values.against !== 'reference') throw new Error(`--against must be extauth or reference, got "${values.against}"`);
  if (values.mix !== 'random' && values.mix !== 'validate-5xx') throw new Error(`--mix must be random or validate-5xx, got "${values.mix}"`);
  return {
    mix: values.mix,
    duration: num('duration', values.duration, 5, 3_600),
    links: Math.round(num('links', values.links, 1, 5_000)),
    agents: Math.round(num('agents', values.agents, 1, 500)),
    killEvery: num('kill-every', values['kill-every'], 0, 3_600),
    tokenLifetime: Math.round(num('token-lifetime', values['token-lifetime'], 15, 86_400)),
    seed: Math.round(num('seed', values.seed, 0, 2 ** 31)),
    against: values.against,
  };
}

/** mulberry32: a small seeded PRNG, so that a soak's fault mix can be replayed with --seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Profile = 'github' | 'okta-strict' | 'okta-grace';
interface LinkState {
  user: string;
  profile: Profile;
  /** Why this link may legitimately end without the provider's live token (an injected permanent or ambiguous fault). */
  permanent: string | undefined;
  faults: string[];
  requests: number;
  served: number;
  reauth: number;
  unavailable: number;
  lastRotationAt: number;
}

const TRANSIENT_TOKEN_FAULTS: Array<[string, FakeFault]> = [
  ['token 503', { kind: 'status', status: 503 }],
  ['token 502', { kind: 'status', status: 502 }],
  ['token 429', { kind: 'rate_limit', retryAfterSeconds: 1 }],
  ['token html 200', { kind: 'malformed', shape: 'html_200' }],
  ['token truncated json', { kind: 'malformed', shape: 'truncated_json' }],
  ['token 4 MiB body', { kind: 'malformed', shape: 'oversized' }],
  ['token no access_token', { kind: 'malformed', shape: 'missing_access_token' }],
  ['token non-utf8', { kind: 'malformed', shape: 'non_utf8' }],
];
/** The provider rotates and the answer is lost (or comes too late): permanent unless the provider has a grace window. */
const AMBIGUOUS_TOKEN_FAULTS: Array<[string, FakeFault]> = [
  ['token reset after rotate', { kind: 'reset_after_rotate' }],
  ['token truncated after rotate', { kind: 'malformed', shape: 'truncated_json', rotate: true }],
  ['token hang past timeout', { kind: 'hang', ms: 3_000 }],
];
const VALIDATE_FAULTS: Array<[string, FakeFault]> = [
  ['validate 503', { kind: 'status', status: 503 }],
  ['validate 502', { kind: 'status', status: 502 }],
  ['validate 429', { kind: 'validate_429' }],
  ['validate 401 once', { kind: 'validate_401' }],
  ['validate hang past timeout', { kind: 'hang', ms: 2_500 }],
  ['validate 4 MiB body', { kind: 'malformed', shape: 'oversized' }],
  ['validate non-utf8', { kind: 'malformed', shape: 'non_utf8' }],
];

function planFaults(provider: FakeOAuthProvider, link: LinkState, rand: () => number): void {
  const pick = <T>(list: T[]): T => list[Math.floor(rand() * list.length)]!;
  const token: (FakeFault | null)[] = [];
  const validate: (FakeFault | null)[] = [];
  for (let call = 0; call < 12; call++) {
    if (rand() < 0.25) {
      const [name, fault] = pick(TRANSIENT_TOKEN_FAULTS);
      token.push(fault);
      link.faults.push(`${name}@${call + 1}`);
    } else token.push(null);
    if (rand() < 0.3) {
      const [name, fault] = pick(VALIDATE_FAULTS);
      validate.push(fault);
      link.faults.push(`${name}@${call + 1}`);
    } else validate.push(null);
  }
  const roll = rand();
  if (roll < 0.03) {
    const [name, fault] = pick(AMBIGUOUS_TOKEN_FAULTS);
    const at = 1 + Math.floor(rand() * 4);
    token[at - 1] = fault;
    link.faults.push(`${name}@${at}`);
    if (link.profile !== 'okta-grace') link.permanent = `${name} (provider rotated, answer lost; ${link.profile} has no grace window)`;
  } else if (roll < 0.05) {
    link.faults.push('grant revoked mid-soak');
    link.permanent = 'grant revoked at the provider';
  }
  provider.scriptFaults('token', link.user, token);
  provider.scriptFaults('validate', link.user, validate);
}

interface WorkerChild {
  child: ChildProcess;
  exited: Promise<void>;
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const rand = prng(opts.seed);
  const started = Date.now();
  const say = (msg: string) => process.stderr.write(`[soak +${((Date.now() - started) / 1000).toFixed(0)}s] ${msg}\n`);
  const hardStop = setTimeout(() => {
    process.stderr.write('soak: hard time limit reached; aborting\n');
    process.exit(2);
  }, (opts.duration + 300) * 1000);
  hardStop.unref();

  const dir = await mkdtemp(join(tmpdir(), 'extauth-soak-'));
  await chmod(dir, 0o755);
  const cleanup: Array<() => Promise<unknown>> = [() => rm(dir, { recursive: true, force: true })];
  const workerLines: string[] = [];
  try {
    say(`starting (${opts.against}, mix ${opts.mix}, ${opts.links} links, ${opts.agents} agents, ${opts.duration} s, tokens living ${opts.tokenLifetime} s, seed ${opts.seed})`);
    const postgres = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), persistent: false, log: () => undefined });
    cleanup.unshift(() => postgres.stop());
    await migrateUp(postgres.databaseUrl);
    const pool = new pg.Pool({ connectionString: postgres.databaseUrl, max: 20 });
    pool.on('error', () => undefined); // idle clients cut at shutdown
    cleanup.unshift(() => pool.end());

    const provider = await FakeOAuthProvider.start({ latencyMs: { token: 40, validate: 20 }, accessTokenLifetimeSeconds: opts.tokenLifetime });
    cleanup.unshift(() => provider.close());
    const links: LinkState[] = [];
    const byUser = new Map<string, LinkState>();
    for (let i = 0; i < opts.links; i++) {
      const r = rand();
      const profile: Profile = r < 0.6 ? 'github' : r < 0.8 ? 'okta-strict' : 'okta-grace';
      const user = `u${String(i).padStart(4, '0')}`;
      const link: LinkState = { user, profile, permanent: undefined, faults: [], requests: 0, served: 0, reauth: 0, unavailable: 0, lastRotationAt: 0 };
      provider.setReuseDetection(user, profile === 'github' ? false : profile === 'okta-strict' ? {} : { graceMs: 30_000 });
      const grant = provider.issueGrant({ familyId: user });
      await putLink(pool, { providerId: PROVIDER_ID, userId: user }, {
        accessToken: grant.accessToken,
        refreshToken: grant.refreshToken,
        tokenType: 'bearer',
        // Staggered: some expired, the rest expiring through the first minute.
        expiresAt: new Date(Date.now() + (-10 + rand() * (opts.tokenLifetime + 10)) * 1000).toISOString(),
        extra: { expires_in: opts.tokenLifetime },
      });
      if (opts.mix === 'random') planFaults(provider, link, rand);
      links.push(link);
      byUser.set(user, link);
    }
    provider.onRotate = (family) => {
      const link = byUser.get(family);
      if (!link) return;
      link.lastRotationAt = Date.now();
      if (opts.mix === 'validate-5xx') {
        provider.injectFault('validate', { kind: 'status', status: 503 }, { familyId: family, times: 1 });
        link.faults.push('validate 503 after rotation');
      }
    };
    const revocations = links.filter((l) => l.permanent === 'grant revoked at the provider');
    const [config] = parseProviders([{ id: PROVIDER_ID, type: 'github', clientId: provider.clientId, clientSecret: provider.clientSecret, tokenUrl: provider.tokenUrl, validateUrl: provider.validateUrl }]);

    // --- the system under test -------------------------------------------------------------------
    let getToken: (user: string) => Promise<{ accessToken: string }>;
    const kills: number[] = [];
    let stopKiller = () => undefined as void;
    /** Writes the histories of runs whose workflow task failed (with the codec key that decrypts them) to a folder. */
    let exportFailingRuns: (lines: string[], outDir: string) => Promise<void> = async () => undefined;
    /** Link runs that ended FAILED (a history that does not replay fails its run; the next request opens a new one). */
    let countFailedRuns: () => Promise<number | string> = async () => 'n/a';
    /** The runs of a link and the outline of each history (event types, task failures and timeouts, updates). */
    let describeRuns: (user: string) => Promise<string[]> = async () => [];
    if (opts.against === 'extauth') {
      const codecKey = formatCodecKey(generateCodecKey('soak'));
      const workerKey = formatCodecKey(generateCodecKey('soak-worker'));
      const [temporal, bundle] = await Promise.all([
        startTemporalDevServer({ headless: true, searchAttributes: DEV_SERVER_SEARCH_ATTRIBUTES, log: () => undefined }),
        bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, failureConverterPath: FAILURE_CONVERTER_PATH, logger: { trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => console.error(m), log() {} } }),
      ]);
      cleanup.unshift(() => temporal.stop());
      const bundlePath = join(dir, 'workflow-bundle.js');
      const providersFile = join(dir, 'providers.json');
      await writeFile(bundlePath, bundle.code);
      await writeFile(providersFile, JSON.stringify([{ ...config }]));
      const taskQueue = 'extauth-soak';
      const env = {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        TEMPORAL_ADDRESS: temporal.address,
        DATABASE_URL: postgres.databaseUrl,
        EXTAUTH_PROVIDERS: providersFile,
        EXTAUTH_TASK_QUEUE: taskQueue,
        EXTAUTH_CODEC_KEY: codecKey,
        EXTAUTH_WORKER_KEY: workerKey,
        // The soak seeds plaintext rows, which the reference algorithm reads as the original code did.
        EXTAUTH_DB_PLAINTEXT: 'allow',
        EXTAUTH_DATA_DIR: join(dir, 'data'),
        EXTAUTH_TEST_WORKFLOW_BUNDLE: bundlePath,
      };
      const workers: WorkerChild[] = [];
      const startWorker = (): Promise<WorkerChild> => {
        const child = spawn(process.execPath, ['--import', 'tsx', WORKER_ENTRY], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
        let ready: () => void;
        const started = new Promise<void>((resolve) => (ready = resolve));
        for (const stream of [child.stdout!, child.stderr!]) {
          createInterface({ input: stream }).on('line', (line) => {
            workerLines.push(line);
            if (process.env.EXTAUTH_SOAK_LOG) appendFileSync(process.env.EXTAUTH_SOAK_LOG, `${child.pid} ${line}\n`);
            if (line.includes('worker started')) ready();
          });
        }
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        const worker = { child, exited };
        workers.push(worker);
        return Promise.race([started, exited]).then(() => worker);
      };
      cleanup.unshift(async () => {
        for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
        await Promise.all(workers.map((w) => w.exited));
      });
      await Promise.all([startWorker(), startWorker()]);
      const connection = await Connection.connect({ address: temporal.address });
      cleanup.unshift(() => connection.close());
      const client = new TunedExtauthClient(new Client({ connection, dataConverter: extauthDataConverter(makeCodecKeys(parseCodecKey(codecKey, 'soak key'))) }), { taskQueue }, TUNING);
      getToken = (user) => client.getToken({ provider: PROVIDER_ID, user, minValidSeconds: minValidSeconds(opts.tokenLifetime) });
      countFailedRuns = async () => (await client.temporal.workflow.count(`TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Failed'`)).count;
      describeRuns = async (user) => {
        const lines: string[] = [];
        const workflowId = linkWorkflowId({ providerId: PROVIDER_ID, userId: user });
        for await (const run of client.temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
          const history = await client.temporal.workflow.getHandle(workflowId, run.runId).fetchHistory();
          const outline = (history.events ?? []).map((e) => {
            const type = EventType[e.eventType ?? 0]?.replace('EVENT_TYPE_', '') ?? String(e.eventType);
            const at = e.eventTime?.seconds ? `@+${(Number(e.eventTime.seconds) - started / 1000).toFixed(0)}` : '';
            const cause = e.workflowTaskFailedEventAttributes?.cause ? `(${WorkflowTaskFailedCause[e.workflowTaskFailedEventAttributes.cause]})` : '';
            const timeout = e.workflowTaskTimedOutEventAttributes?.timeoutType ? `(${TimeoutType[e.workflowTaskTimedOutEventAttributes.timeoutType]})` : '';
            const activity = e.activityTaskScheduledEventAttributes?.activityType?.name ?? '';
            return `${e.eventId}:${type}${cause}${timeout}${activity ? `[${activity}]` : ''}${at}`;
          });
          lines.push(`run ${run.runId} ${run.status.name}: ${outline.join(' ')}`);
        }
        return lines;
      };
      exportFailingRuns = async (lines, outDir) => {
        ensurePrivateDir(outDir);
        writePrivateFile(join(outDir, 'codec.key'), codecKey);
        for (const line of lines) {
          const { runId } = JSON.parse(line) as { runId?: string };
          if (!runId) continue;
          let workflowId: string | undefined;
          for await (const run of client.temporal.workflow.list({ query: `RunId = '${runId}'` })) workflowId = run.workflowId;
          if (!workflowId) continue;
          const history = await client.temporal.workflow.getHandle(workflowId, runId).fetchHistory();
          writePrivateFile(join(outDir, `${runId}.json`), historyToJSONText(history));
          say(`history of failing run ${workflowId} ${runId} written to ${outDir}`);
        }
      };
      if (opts.killEvery > 0) {
        const timer = setInterval(() => {
          const alive = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
          const victim = alive[Math.floor(rand() * alive.length)];
          if (!victim) return;
          victim.child.kill('SIGKILL');
          if (process.env.EXTAUTH_SOAK_LOG) appendFileSync(process.env.EXTAUTH_SOAK_LOG, `${victim.child.pid} KILLED at ${new Date().toISOString()}\n`);
          kills.push(Date.now());
          say(`SIGKILL worker ${victim.child.pid} (kill ${kills.length}); starting a replacement`);
          void startWorker();
        }, opts.killEvery * 1000);
        stopKiller = () => clearInterval(timer);
      }
    } else {
      const http = createProviderHttpClient();
      cleanup.unshift(() => http.close());
      getToken = async (user) => {
        const answer = await referenceGetToken({ pool, http, provider: config! }, { providerId: PROVIDER_ID, userId: user });
        if (answer.ok) return { accessToken: answer.accessToken };
        throw new ExtauthError(answer.reauthRequired ? 'reauth_required' : 'provider_unavailable', answer.error);
      };
    }

    // --- agents ------------------------------------------------------------------------------------
    let stale = 0;
    let transportErrors = 0;
    let requests = 0;
    /** Requests that took longer than SLOW_REQUEST_MS: printed with their link's runs at the end. */
    const slowRequests: Array<{ user: string; seconds: number; at: number; outcome: string }> = [];
    const staleExamples: string[] = [];
    /** Each stale token served: when (s into the soak) and its fingerprint, to read beside the link's worker lines. */
    const staleServed: Array<{ user: string; at: number; epochMs: number; askedMs: number; fingerprint: string }> = [];
    let running = true;
    const deadline = Date.now() + opts.duration * 1000;
    const agent = async () => {
      while (running && Date.now() < deadline) {
        const link = links[Math.floor(rand() * links.length)]!;
        link.requests++;
        requests++;
        const askedAt = Date.now();
        const noteIfSlow = (outcome: string) => {
          if (Date.now() - askedAt > SLOW_REQUEST_MS && slowRequests.length < 20) {
            slowRequests.push({ user: link.user, seconds: (Date.now() - askedAt) / 1000, at: (askedAt - started) / 1000, outcome });
          }
        };
        try {
          const { accessToken } = await getToken(link.user);
          noteIfSlow('served');
          link.served++;
          // Revoked by the soak itself (a permanent fault): the token may be cached; not our retries' doing.
          if (!provider.isAccessTokenValid(accessToken) && link.permanent !== 'grant revoked at the provider') {
            stale++;
            if (staleExamples.length < 5) staleExamples.push(`${link.user} (${link.profile})`);
            staleServed.push({ user: link.user, at: (Date.now() - started) / 1000, epochMs: Date.now(), askedMs: askedAt, fingerprint: fingerprint(accessToken) });
          }
        } catch (err) {
          noteIfSlow(String((err as Error)?.message ?? err).slice(0, 300));
          if (err instanceof ExtauthError && err.code === 'reauth_required') link.reauth++;
          else if (err instanceof ExtauthError) link.unavailable++;
          else transportErrors++;
        }
        await sleep(50 + rand() * 250);
      }
    };
    const revoker = (async () => {
      // Spread over the run: each revoked grant is seen by some agents before and after.
      for (const link of revocations) {
        await sleep((opts.duration * 1000) / (revocations.length + 1));
        if (!running) return;
        provider.revokeFamily(link.user);
      }
    })();
    const progress = setInterval(() => say(`requests=${requests} refreshes=${provider.stats.rotations} kills=${kills.length}`), 15_000);
    await Promise.all(Array.from({ length: opts.agents }, agent));
    running = false;
    clearInterval(progress);
    stopKiller();
    await revoker;
    say('agents stopped; checking invariants');

    // --- invariants -----------------------------------------------------------------------------------
    let lost = 0;
    let killWindow = 0;
    let falseReauths = 0;
    const perLink: string[] = [];
    // Runs keep refreshing ahead of expiry after the agents stop: a rotation that is minted but not yet saved is in
    // flight, not lost. Such a link is looked at again until its row catches up (a lost rotation never does).
    const rowFollowsLive = async (link: LinkState) => {
      const until = Date.now() + SETTLE_MS;
      for (;;) {
        const row = await getLink(pool, { providerId: PROVIDER_ID, userId: link.user });
        const live = provider.liveRefreshToken(link.user);
        const follows = live !== undefined && row?.refreshToken === live;
        // The reference refreshes only when asked: nothing of it is still in flight.
        if (follows || link.permanent || opts.against !== 'extauth' || Date.now() > until) return { row, live, follows };
        await sleep(250);
      }
    };
    for (const link of links) {
      const { row, live, follows } = await rowFollowsLive(link);
      const tripped = provider.stats.trippedFamilies.has(link.user);
      let verdict = 'ok';
      if (!follows && !link.permanent && (tripped || live !== undefined)) {
        const undelivered = provider.stats.undeliveredRotations.get(link.user) ?? 0;
        if (undelivered > 0 || kills.some((k) => Math.abs(k - link.lastRotationAt) <= KILL_WINDOW_MS)) {
          link.permanent =
            undelivered > 0
              ? 'the provider rotated for a request whose worker was gone (SIGKILL while the exchange was in flight)'
              : 'rotation minted within 1 s of a worker SIGKILL (the answer died with the process before it was journaled)';
          killWindow++;
          const nearest = kills.map((k) => k - link.lastRotationAt).sort((a, b) => Math.abs(a) - Math.abs(b))[0];
          verdict = `KILL-WINDOW LOSS (${undelivered > 0 ? `${undelivered} undelivered rotation(s)` : 'rotation near a kill'}; nearest kill ${nearest === undefined ? 'none' : `${(nearest / 1000).toFixed(2)}s after the last rotation`})`;
        } else {
          lost++;
          const nearest = kills.map((k) => k - link.lastRotationAt).sort((a, b) => Math.abs(a) - Math.abs(b))[0];
          verdict =
            (tripped ? 'LOST (family revoked by reuse detection)' : 'LOST (db refresh token is not the live one)') +
            ` last rotation at +${((link.lastRotationAt - started) / 1000).toFixed(1)}s, nearest kill ${nearest === undefined ? 'none' : `${(nearest / 1000).toFixed(2)}s after it`}; row: ${row?.failureReason || 'no failure recorded'}`;
        }
      } else if (!follows) verdict = `exempt: ${link.permanent ?? 'family revoked'}`;
      if (!link.permanent && link.reauth > 0) falseReauths += link.reauth;
      perLink.push(
        `link ${link.user} ${link.profile.padEnd(11)} requests=${link.requests} served=${link.served} reauth=${link.reauth} unavailable=${link.unavailable} ` +
          `exchanges=${provider.stats.tokenCallsByFamily.get(link.user) ?? 0} faults=[${link.faults.join(', ')}] db==live:${follows ? 'yes' : 'no'} -> ${verdict}`,
      );
    }
    const leaked = leakedTokens(workerLines, new Set(provider.issuedTokens()));
    const retries = retriesByClass(workerLines);
    const failingTaskLines = workerLines.filter((l) => l.includes('Failing workflow task'));
    const failingTasks = failingTaskLines.length;
    for (const line of failingTaskLines.slice(0, 3)) say(`failing workflow task: ${line.trim().slice(0, 600)}`);
    if (process.env.EXTAUTH_SOAK_HISTORIES && failingTasks > 0) await exportFailingRuns(failingTaskLines, process.env.EXTAUTH_SOAK_HISTORIES);
    const failedRuns = await countFailedRuns();
    for (const slow of slowRequests.slice(0, 5)) {
      say(`slow request: ${slow.user} asked at +${slow.at.toFixed(0)}s took ${slow.seconds.toFixed(1)} s: ${slow.outcome}`);
      for (const line of await describeRuns(slow.user)) say(`  ${line}`);
    }
    const recoveredLines = workerLines.filter((l) => l.includes('recovered rotated tokens from the history')).length;
    const stuckEnded = workerLines.filter((l) => l.includes('ended a link run whose history no longer replays')).length;

    process.stdout.write(`${perLink.join('\n')}\n\n`);
    const table: Array<[string, string | number]> = [
      ['against', opts.against],
      ['duration (s)', ((Date.now() - started) / 1000).toFixed(0)],
      ['links', opts.links],
      ['agents', opts.agents],
      ['requests', requests],
      ['served', links.reduce((n, l) => n + l.served, 0)],
      ['reauth answers (all)', links.reduce((n, l) => n + l.reauth, 0)],
      ['unavailable answers', links.reduce((n, l) => n + l.unavailable, 0)],
      ['transport errors', transportErrors],
      ['refreshes (provider rotations)', provider.stats.rotations],
      ['token calls / validate calls', `${provider.stats.tokenCalls} / ${provider.stats.validateCalls}`],
      ['faults served by the provider', provider.stats.faultsServed],
      ...Object.entries(retries).map(([k, v]) => [`retries: ${k}`, v] as [string, number]),
      ['kills survived', kills.length],
      ['links with a permanent/ambiguous fault (exempt)', links.filter((l) => l.permanent).length],
      ['rotations lost in the kill window (exempt, see docs)', killWindow],
      ['reuse detection tripped (families)', provider.stats.trippedFamilies.size],
      ['"Failing workflow task" log lines', failingTasks],
      ['link runs ended as failed (unreplayable history)', failedRuns],
      ['stuck link runs ended by the recovery sweep', stuckEnded],
      ['rotations recovered from an ended run', recoveredLines],
      ['lost rotations', lost],
      ['false re-auths', falseReauths],
      ['stale tokens served', stale],
      ['leaked tokens in worker logs', leaked],
    ];
    const width = Math.max(...table.map(([k]) => k.length));
    process.stdout.write(`${table.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
    if (staleExamples.length) process.stdout.write(`stale examples: ${staleExamples.join(', ')}\n`);
    // What the worker said about each link that was served a stale token (fingerprints only, as the logs hold them).
    for (const user of new Set(staleServed.map((s) => s.user))) {
      const served = staleServed.filter((s) => s.user === user).map((s) => `${s.at.toFixed(1)} s (asked at time ${s.askedMs}, answered ${s.epochMs}) ${s.fingerprint}`);
      const lines = workerLines.filter((l) => l.includes(`"link":"${user}"`)).slice(-STALE_TRACE_LINES);
      process.stdout.write(`stale trace ${user}: served ${served.join(', ')}\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
    }
    process.stdout.write(
      `soak: links=${opts.links} requests=${requests} refreshes=${provider.stats.rotations} kills=${kills.length} lost_rotations=${lost} false_reauths=${falseReauths} stale_tokens_served=${stale} leaked_tokens=${leaked}\n`,
    );
    return lost + falseReauths + stale + leaked === 0 ? 0 : 1;
  } finally {
    for (const step of cleanup) await step().catch(() => undefined);
    clearTimeout(hardStop);
  }
}

/** Token-shaped strings in the logs that the provider really issued. */
function leakedTokens(lines: string[], issued: Set<string>): number {
  const found = new Set<string>();
  for (const line of lines) for (const m of line.matchAll(/gh[ur]_[0-9A-Za-z]{20,}/g)) if (issued.has(m[0])) found.add(m[0]);
  return found.size;
}

/** Retries as the workers logged them (one warning per failed attempt that will be retried). */
function retriesByClass(lines: string[]): Record<string, number> {
  const counts: Record<string, number> = { http_5xx: 0, http_429: 0, timeout: 0, connection: 0, malformed: 0, unauthorized_401: 0 };
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    let entry: { step?: string; outcome?: string; status?: number; cause?: string };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (entry.step !== 'exchange' && entry.step !== 'validate') continue;
    if (entry.outcome === 'retry' && entry.status === 401) counts.unauthorized_401!++;
    if (entry.outcome !== 'transient') continue;
    const cause = entry.cause ?? '';
    if (entry.status === 429) counts.http_429!++;
    else if (entry.status !== undefined && entry.status >= 500) counts.http_5xx!++;
    else if (/timed out|deadline|timeout/.test(cause)) counts.timeout!++;
    else if (/larger than|UTF-8|unreadable/.test(cause) || entry.status !== undefined) counts.malformed!++;
    else counts.connection!++;
  }
  return counts;
}

process.exitCode = await main().catch((err) => {
  process.stderr.write(`soak: ${(err as Error).stack ?? String(err)}\n`);
  return 2;
});
process.exit();
