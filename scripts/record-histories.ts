// `npm run histories:record`: records real linkWorkflow histories for the replay suite (test/replay/).
//
// Starts its own Temporal dev server and embedded Postgres in a temp dir, runs migrations and an extauth
// worker, drives scenarios through ExtauthClient against the fake provider, and writes each closed run's
// history as JSON to test/replay/histories/<scenario>[.<suffix>].json. Payloads are encrypted with the
// fixture key (test/replay/fixture-codec-key.txt), and refresh tokens inside them sealed with the fixture worker
// key (test/replay/fixture-worker-key.txt), exactly as production encrypts and seals them.
//
//   npm run histories:record                                   every scenario
//   npm run histories:record -- --only plain-refresh,fresh-token
//   npm run histories:record -- --only plain-refresh --suffix old   (keeps a history next to its re-recording: docs/versioning.md)
//   npm run histories:record -- --list
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { historyToJSONText } from '../cli/commands/history.js';
import { ExtauthClient, ExtauthError } from '../client/index.js';
import { TunedExtauthClient } from '../client/tuned-client.js';
import { extauthDataConverter } from '../codec/data-converter.js';
import { createLogger, installTemporalLogging, privateLogDestination } from '../config/logger.js';
import { linkWorkflowId } from '../core/ids.js';
import type { LinkKey } from '../core/types.js';
import { FakeOAuthProvider, type Grant } from '../dev/fake-provider.js';
import { startEmbeddedPostgres } from '../dev/postgres.js';
import { startTemporalDevServer, type DevTemporal } from '../dev/temporal.js';
import { parseProviders, type ProviderConfig } from '../providers/config.js';
import { migrateUp } from '../store/migrate.js';
import { putLink } from '../store/links.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { WebhookEndpoint } from '../config/webhooks.js';
import {
  decodedPayloads,
  fixtureCodecKeys,
  fixtureCodecKeyText,
  fixtureTokenSealer,
  fixtureWorkerKeyText,
  HISTORIES_DIR,
  refreshMaterialIn,
  secretsIn,
  unencryptedPayloads,
} from '../test/replay/fixture.js';
import { getTokenUpdate } from '../workflows/messages.js';
import type { Tuning } from '../workflows/policies.js';
import { DEV_SERVER_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';
import { bundleLinkWorkflows, createExtauthWorker } from '../worker.js';
import { closeActivityDeps, createActivityDeps } from '../worker/activity-deps.js';

const BIN = fileURLToPath(new URL('../bin/extauth.js', import.meta.url));
const TASK_QUEUE = 'extauth-record';
const GITHUB = 'rec-github';
/** A provider without validateUrl: validateAccessToken answers 'not_checked'. */
const NO_VALIDATE = 'rec-novalidate';
/** Refreshes 2 s ahead of expiry while a link was asked for within 4 s; warns 5 s before a refresh token expires. */
const PROACTIVE = 'rec-proactive';
/** Keep-alive every 3 s for idle links, no refresh ahead. */
const KEEP_ALIVE = 'rec-keepalive';
/** Short budgets, and runs that finish 2 s after their last request, so every exported run is closed. */
const TUNING: Partial<Tuning> = {
  exchangeAttemptMs: 3_000,
  exchangeBudgetMs: 20_000,
  validateAttemptMs: 2_000,
  validateBudgetMs: 5_000,
  retryInitialMs: 100,
  retryMaxMs: 500,
  idleFinishMs: 2_000,
};
/** On the continue-as-new server only: the server suggests continue-as-new after this many events. */
const SUGGEST_CONTINUE_AS_NEW_EVENTS = 40;

interface Stack {
  temporal: Client;
  client: ExtauthClient;
  startWorker(taskQueue?: string): Promise<{ stop(): Promise<void> }>;
  close(): Promise<void>;
}

interface Ctx {
  provider: FakeOAuthProvider;
  providersFile: string;
  databaseUrl: string;
  main: Stack;
  /** A second dev server that suggests continue-as-new after a few events (started on demand). */
  continueAsNewStack(): Promise<{ stack: Stack; address: string }>;
  address: string;
  /** Link events the recorder's webhook receiver got (every stack's worker posts to it): `<type> <user>`. */
  webhookEvents: string[];
  /** Stores a link as the OAuth callback would: a new grant of the user's family, or `grant` (a re-authentication). */
  seed(key: LinkKey, expiresInSeconds: number, options?: { refreshTokenExpiresInSeconds?: number; grant?: Grant }): Promise<Grant>;
}

/** One exported run: written to `<scenario>[.<part>][.<suffix>].json`. */
interface Export {
  part?: string;
  stack: Stack;
  workflowId: string;
  runId?: string;
}

interface Scenario {
  name: string;
  covers: string;
  run(ctx: Ctx): Promise<Export[]>;
}

const key = (providerId: string, userId: string): LinkKey => ({ providerId, userId });
const ref = (k: LinkKey) => ({ provider: k.providerId, user: k.userId });

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`scenario check failed: ${what}`);
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ExtauthError && err.code === code) return;
    throw err;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

const SCENARIOS: Scenario[] = [
  {
    name: 'plain-refresh',
    covers: 'expired token: exchange, persist, validate (ok), token served',
    async run({ main, seed, provider }) {
      const k = key(GITHUB, 'plain-refresh');
      await seed(k, -10);
      await main.client.getToken(ref(k));
      check(provider.stats.tokenCallsByFamily.get(k.userId) === 1, 'one exchange');
      return [{ stack: main, workflowId: linkWorkflowId(k) }];
    },
  },
  {
    name: 'fresh-token',
    covers: 'fresh token answered from the row: load only, no exchange, no validation',
    async run({ main, seed, provider }) {
      const k = key(GITHUB, 'fresh-token');
      await seed(k, 3600);
      await main.client.getToken(ref(k));
      await main.client.getToken(ref(k));
      check(!provider.stats.tokenCallsByFamily.get(k.userId), 'no exchange');
      return [{ stack: main, workflowId: linkWorkflowId(k) }];
    },
  },
  {
    name: 'validation-retries',
    covers: 'validation answers 502 twice, then ok: the validate activity retries, one exchange',
    async run({ main, seed, provider }) {
      const k = key(GITHUB, 'validation-retries');
      await seed(k, -10);
      provider.injectFault('validate', { kind: 'status', status: 502 }, { familyId: k.userId, times: 2 });
      await main.client.getToken(ref(k));
      check(provider.stats.tokenCallsByFamily.get(k.userId) === 1, 'one exchange');
      check(provider.stats.validateCallsByFamily.get(k.userId) === 3, 'three validate calls');
      return [{ stack: main, workflowId: linkWorkflowId(k) }];
    },
  },
  {
    name: 'permanent-failure',
    covers: 'revoked grant: bad_refresh_token, failure recorded (reauth_required); the second request fails fast without a provider call',
    async run({ main, seed, provider }) {
      const k = key(GITHUB, 'permanent-failure');
      await seed(k, -10);
      provider.revokeFamily(k.userId);
      await expectCode(main.client.getToken(ref(k)), 'reauth_required');
      await expectCode(main.client.getToken(ref(k)), 'reauth_required');
      check(provider.stats.tokenCallsByFamily.get(k.userId) === 1, 'one exchange for two requests');
      return [{ stack: main, workflowId: linkWorkflowId(k) }];
    },
  },
  {
    name: 'concurrent-agents',
    covers: '25 concurrent getToken updates on an expired link: one exchange, all served the same token',
    async run({ main, seed, provider }) {
      const k = key(GITHUB, 'concurrent-agents');
      await seed(k, -10);
      const tokens = await Promise.all(Array.from({ length: 25 }, () => main.client.getToken({ ...ref(k), minValidSeconds: 60 })));
      check(provider.stats.tokenCallsByFamily.get(k.userId) === 1, 'one exchange');
      check(new Set(tokens.map((t) => t.accessToken)).size === 1, 'one token');
      return [{ stack: main, workflowId: linkWorkflowId(k) }];
    },
  },
  {
    name: 'webhook-events',
    covers: 'with a webhook endpoint: a revoked grant starts a link.reauth_required delivery (child, abandoned) (reauth); after a re-link the first token served starts link.recovered, then the row is acknowledged (recovered)',
    async run({ main, seed, provider, webhookEvents }) {
      const k = key(GITHUB, 'webhook-events');
      await seed(k, -10);
      provider.revokeFamily(k.userId);
      await expectCode(main.client.getToken(ref(k)), 'reauth_required');
      const refused = (await main.temporal.workflow.getHandle(linkWorkflowId(k)).describe()).runId;
      await expectCode(main.client.getToken(ref(k)), 'reauth_required');
      await seed(k, -10);
      check(await main.client.relinked(ref(k)), 'relinked signal delivered to the open run');
      await main.client.getToken(ref(k));
      await main.client.getToken(ref(k));
      const mine = () => webhookEvents.filter((e) => e.endsWith(` ${k.userId}`)).map((e) => e.split(' ')[0]);
      for (let i = 0; i < 100 && mine().length < 2; i++) await sleep(100);
      check(mine().join() === 'link.reauth_required,link.recovered', `one reauth_required, one recovered (got ${mine().join()})`);
      // Usually one run does both; if the refused run finished before the re-link, each run is exported.
      const latest = (await main.temporal.workflow.getHandle(linkWorkflowId(k)).describe()).runId;
      if (latest === refused) return [{ stack: main, workflowId: linkWorkflowId(k) }];
      return [
        { part: 'reauth', stack: main, workflowId: linkWorkflowId(k), runId: refused },
        { part: 'recovered', stack: main, workflowId: linkWorkflowId(k), runId: latest },
      ];
    },
  },
  {
    name: 'relink-after-failure',
    covers: 'permanent failure, then the user re-links (putLink + relinked signal): reload, exchange with the new grant, ok',
    async run({ main, seed, provider }) {
      const k = key(GITHUB, 'relink-after-failure');
      await seed(k, -10);
      provider.revokeFamily(k.userId);
      await expectCode(main.client.getToken(ref(k)), 'reauth_required');
      await seed(k, -10);
      check(await main.client.relinked(ref(k)), 'relinked signal delivered to the open run');
      await main.client.getToken(ref(k));
      check(provider.stats.tokenCallsByFamily.get(k.userId) === 2, 'a refused exchange, then one with the new grant');
      return [{ stack: main, workflowId: linkWorkflowId(k) }];
    },
  },
  {
    name: 'idle-finish',
    covers: 'a run finishes after idleFinishMs without requests (run1); the link expires, and the next request (refreshNow) starts a new run that refreshes (run2)',
    async run({ main, seed }) {
      const k = key(GITHUB, 'idle-finish');
      await seed(k, 3600);
      await main.client.getToken(ref(k));
      const first = await main.temporal.workflow.getHandle(linkWorkflowId(k)).describe();
      await waitClosed(main.temporal.workflow.getHandle(linkWorkflowId(k), first.runId));
      // Expired by now: a forced refresh of a token still within its told expiry would wait for it (and keep run2 open).
      await seed(k, -10);
      await main.client.refresh(ref(k));
      const second = await main.temporal.workflow.getHandle(linkWorkflowId(k)).describe();
      check(second.runId !== first.runId, 'a new run');
      return [
        { part: 'run1', stack: main, workflowId: linkWorkflowId(k), runId: first.runId },
        { part: 'run2', stack: main, workflowId: linkWorkflowId(k), runId: second.runId },
      ];
    },
  },
  {
    name: 'continue-as-new',
    covers: `server suggests continue-as-new after ${SUGGEST_CONTINUE_AS_NEW_EVENTS} events: the run continues as new carrying counters (run1), the next run serves on (run2)`,
    async run({ continueAsNewStack, seed, provider }) {
      const { stack } = await continueAsNewStack();
      const k = key(GITHUB, 'continue-as-new');
      await seed(k, -10);
      await stack.client.getToken(ref(k));
      const first = await stack.temporal.workflow.getHandle(linkWorkflowId(k)).describe();
      let runId = first.runId;
      // As getToken updates, not through ExtauthClient: its Query fast path would answer a fresh token without a history event.
      const request = () => stack.temporal.workflow.getHandle(linkWorkflowId(k)).executeUpdate(getTokenUpdate, { args: [{ minValidSeconds: 60, nowMs: Date.now() }] });
      for (let i = 0; i < 40 && runId === first.runId; i++) {
        await request();
        runId = (await stack.temporal.workflow.getHandle(linkWorkflowId(k)).describe()).runId;
      }
      check(runId !== first.runId, 'the run continued as new');
      const status = await stack.client.status(ref(k));
      check(status.counters.exchanges === 1 && status.counters.requests > 1, 'counters carried over');
      check(provider.stats.tokenCallsByFamily.get(k.userId) === 1, 'one exchange');
      return [
        { part: 'run1', stack, workflowId: linkWorkflowId(k), runId: first.runId },
        { part: 'run2', stack, workflowId: linkWorkflowId(k), runId },
      ];
    },
  },
  {
    name: 'worker-crash',
    covers:
      'the worker process is SIGKILLed while the exchange hangs at the provider; a new worker takes over: the attempt times out, is retried, the workflow task of the dead sticky worker times out, the new worker replays and finishes',
    async run({ main, seed, provider, providersFile, databaseUrl, address }) {
      const taskQueue = `${TASK_QUEUE}-crash`;
      const k = key(GITHUB, 'worker-crash');
      await seed(k, -10);
      const child = await startWorkerProcess({ address, databaseUrl, providersFile, taskQueue });
      const client = new TunedExtauthClient(main.temporal, { taskQueue }, TUNING);
      provider.injectFault('token', { kind: 'hang', ms: 15_000 }, { familyId: k.userId });
      const answer = client.getToken(ref(k));
      answer.catch(() => undefined);
      await until(() => provider.stats.tokenCallsByFamily.get(k.userId) === 1, 60_000, 'the exchange reached the provider');
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      const replacement = await main.startWorker(taskQueue);
      try {
        await answer;
      } finally {
        await waitClosed(main.temporal.workflow.getHandle(linkWorkflowId(k))).finally(() => replacement.stop());
      }
      check(provider.stats.tokenCallsByFamily.get(k.userId) === 2, 'the hung attempt, then the retry');
      return [{ stack: main, workflowId: linkWorkflowId(k) }];
    },
  },
  {
    name: 'proactive-refresh',
    covers:
      'a token expiring in 5 s, asked for once: the run refreshes it 2 s ahead with nobody asking (timer, exchange, persist, validate), then finishes once the link is no longer active',
    async run({ main, seed, provider }) {
      const k = key(PROACTIVE, 'proactive-refresh');
      await seed(k, 5);
      await main.client.getToken({ ...ref(k), minValidSeconds: 1 });
      check(!provider.stats.tokenCallsByFamily.get(k.userId), 'served without an exchange');
      await until(() => provider.stats.tokenCallsByFamily.get(k.userId) === 1, 30_000, 'the refresh nobody asked for');
      return [{ stack: main, workflowId: linkWorkflowId(k) }];
    },
  },
  {
    name: 'keep-alive',
    covers:
      'an idle link of a keep-alive provider opened by a status request: its run plans no keep-alive refresh of its own (the hourly sweep covers idle links) and finishes once idle, with no exchange',
    async run({ main, seed, provider }) {
      const k = key(KEEP_ALIVE, 'keep-alive');
      await seed(k, 3600);
      await main.client.status(ref(k));
      await sleep(4_000); // past one keep-alive period (3 s)
      check(!provider.stats.tokenCallsByFamily.get(k.userId), 'no keep-alive refresh by the run itself');
      return [{ stack: main, workflowId: linkWorkflowId(k) }];
    },
  },
  {
    name: 'keep-alive-sweep',
    covers:
      'the keep-alive sweep (keepAliveWorkflow, one keepAliveSweep activity) over a link stored 2 s before (keep-alive 3 s: due after 1.5 s) with no run and nobody asking; the link run it opens by signal-with-start (requestRefresh) refreshes it in its first step (the exchange reads the row) and finishes once idle',
    async run({ main, seed, provider }) {
      const k = key(KEEP_ALIVE, 'keep-alive-sweep');
      await seed(k, -60);
      await sleep(2_000);
      const sweepId = 'keep-alive-sweep';
      const sweep = await main.temporal.workflow.start('keepAliveWorkflow', { taskQueue: TASK_QUEUE, workflowId: sweepId, args: [{}] });
      const result = (await sweep.result()) as { requested: number };
      check(result.requested >= 1, 'the sweep asked the idle link to refresh');
      await until(() => provider.stats.tokenCallsByFamily.get(k.userId) === 1, 30_000, 'the keep-alive refresh');
      return [
        { part: 'sweep', stack: main, workflowId: sweepId },
        { part: 'link', stack: main, workflowId: linkWorkflowId(k) },
      ];
    },
  },
  {
    name: 'wait-for-relink',
    covers: 'revoked grant; an agent waits for a re-link (getToken waitSeconds); putLink + relinked signal wake it; it is served the new grant',
    async run({ main, seed, provider }) {
      const k = key(GITHUB, 'wait-for-relink');
      await seed(k, -10);
      provider.revokeFamily(k.userId);
      await expectCode(main.client.getToken(ref(k)), 'reauth_required');
      const waiting = main.client.getToken({ ...ref(k), waitSeconds: 60 });
      for (let i = 0; i < 100 && (await main.client.peekStatus(ref(k)))?.waitingForRelink !== 1; i++) await sleep(100);
      const grant = await seed(k, 3_600, { grant: provider.issueGrant({ familyId: `${k.userId}-relinked` }) });
      check(await main.client.relinked(ref(k)), 'relinked signal delivered');
      check((await waiting).accessToken === grant.accessToken, 'the waiting agent got the new grant');
      return [{ stack: main, workflowId: linkWorkflowId(k) }];
    },
  },
  {
    name: 'delete-revoke',
    covers:
      'link delete --revoke: a served link is deleted through its run (read sealed grant, delete compare-and-set, start the abandoned revokeGrant child, finish); the child revokes the grant at the provider (GitHub grant endpoint)',
    async run({ main, seed, provider }) {
      const k = key(GITHUB, 'delete-revoke');
      await seed(k, 3_600);
      await main.client.getToken(ref(k));
      const deleted = await main.client.deleteLink(ref(k), { revoke: true });
      const revocationId = deleted.revocationWorkflowId!;
      const { runId } = await main.temporal.workflow.getHandle(linkWorkflowId(k)).describe();
      check((await main.client.revocationOutcome(revocationId, 30_000))?.outcome === 'revoked', 'the grant was revoked');
      check(provider.stats.revokedFamilies.has(k.userId), 'the provider ended the grant');
      await expectCode(main.client.getToken(ref(k)), 'link_not_found');
      return [
        { part: 'link', stack: main, workflowId: linkWorkflowId(k), runId },
        { part: 'revoke', stack: main, workflowId: revocationId },
      ];
    },
  },
  {
    name: 'skip-unchecked-validation',
    covers:
      'provider without validateUrl: a refresh (validate answers not_checked), then a forced refresh in the same run, which skips validation (validates once)',
    async run({ main, seed, provider }) {
      const k = key(NO_VALIDATE, 'skip-unchecked-validation');
      await seed(k, -10);
      await main.client.getToken(ref(k));
      await main.client.refresh(ref(k));
      check(provider.stats.tokenCallsByFamily.get(k.userId) === 2, 'two exchanges');
      return [{ stack: main, workflowId: linkWorkflowId(k) }];
    },
  },
];

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

async function waitClosed(handle: WorkflowHandle, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await handle.describe()).status.name === 'RUNNING') {
    if (Date.now() > deadline) throw new Error(`${handle.workflowId} still running after ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** `extauth worker` as its own process, so that it can really crash (SIGKILL). Resolves once it polls. */
async function startWorkerProcess(options: { address: string; databaseUrl: string; providersFile: string; taskQueue: string }): Promise<ChildProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'extauth-record-worker-'));
  const child = spawn(process.execPath, [BIN, 'worker'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      TEMPORAL_ADDRESS: options.address,
      DATABASE_URL: options.databaseUrl,
      EXTAUTH_PROVIDERS: options.providersFile,
      EXTAUTH_TASK_QUEUE: options.taskQueue,
      EXTAUTH_CODEC_KEY: fixtureCodecKeyText(),
      EXTAUTH_WORKER_KEY: fixtureWorkerKeyText(),
      EXTAUTH_DATA_DIR: dataDir,
      // The fixtures' rows are written by createActivityDeps({ cipher: null }) above: plaintext, explicitly.
      EXTAUTH_DB_PLAINTEXT: 'allow',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (d) => (output += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      output += d;
      if (output.includes('worker started')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker process exited (${code}) before it started:\n${output}`)));
  });
  return child;
}

async function startStack(options: { address: string; bundlePath: string; databaseUrl: string; providers: ProviderConfig[]; logger: Logger; webhooks: WebhookEndpoint[] }): Promise<Stack> {
  const keys = fixtureCodecKeys();
  const connection = await Connection.connect({ address: options.address });
  const temporal = new Client({ connection, namespace: 'default', dataConverter: extauthDataConverter(keys) });
  const workers: { stop(): Promise<void> }[] = [];
  const startWorker = async (taskQueue = TASK_QUEUE) => {
    const deps = createActivityDeps({ databaseUrl: options.databaseUrl, providers: options.providers, logger: options.logger, cipher: null, sealer: fixtureTokenSealer(), webhooks: options.webhooks });
    const native = await NativeConnection.connect({ address: options.address });
    const worker: Worker = await createExtauthWorker({
      connection: native,
      namespace: 'default',
      taskQueue,
      deps,
      codecKeys: keys,
      workflowBundle: { codePath: options.bundlePath },
    });
    // The keep-alive sweep opens link runs with the worker's own client, as worker.ts launchWorker wires it.
    deps.extauth = new TunedExtauthClient(worker.client!, { taskQueue }, TUNING);
    const running = worker.run();
    let stopped: Promise<void> | undefined;
    const handle = {
      stop: () =>
        (stopped ??= (async () => {
          if (worker.getState() === 'RUNNING') worker.shutdown();
          await running.catch(() => undefined);
          await Promise.allSettled([native.close(), closeActivityDeps(deps)]);
        })()),
    };
    workers.push(handle);
    return handle;
  };
  await startWorker();
  return {
    temporal,
    client: new TunedExtauthClient(temporal, { taskQueue: TASK_QUEUE }, TUNING),
    startWorker,
    async close() {
      await Promise.allSettled(workers.map((w) => w.stop()));
      await connection.close();
    },
  };
}

/**
 * A dev server whose CLI gets one more dynamic config value. startTemporalDevServer takes the CLI from
 * TEMPORAL_CLI_PATH, so a two-line wrapper adds the flag to `server start-dev` only.
 */
async function startContinueAsNewServer(dir: string, cliPath: string): Promise<DevTemporal> {
  const wrapper = join(dir, 'temporal-suggest-can');
  await writeFile(
    wrapper,
    `#!/bin/sh\nif [ "$1" = server ]; then exec '${cliPath}' "$@" --dynamic-config-value limit.historyCount.suggestContinueAsNew=${SUGGEST_CONTINUE_AS_NEW_EVENTS}; fi\nexec '${cliPath}' "$@"\n`,
    { mode: 0o755 },
  );
  const saved = process.env.TEMPORAL_CLI_PATH;
  process.env.TEMPORAL_CLI_PATH = wrapper;
  try {
    return await startTemporalDevServer({ headless: true, searchAttributes: DEV_SERVER_SEARCH_ATTRIBUTES });
  } finally {
    if (saved === undefined) delete process.env.TEMPORAL_CLI_PATH;
    else process.env.TEMPORAL_CLI_PATH = saved;
  }
}

/** A loopback receiver answering 204 to every event: the runs announce link events as a worker with webhooks does. */
async function startRecorderWebhookReceiver(): Promise<{ endpoint: WebhookEndpoint; types: string[]; close(): Promise<void> }> {
  const types: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const event = JSON.parse(body) as { type: string; data: { user: string } };
      types.push(`${event.type} ${event.data.user}`);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: { name: 'recorder', url: `http://127.0.0.1:${port}/`, key: randomBytes(32) },
    types,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, suffix: { type: 'string' }, list: { type: 'boolean' } } });
  if (values.list) {
    for (const s of SCENARIOS) console.log(`${s.name.padEnd(28)} ${s.covers}`);
    return;
  }
  const only = values.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((name) => !SCENARIOS.some((s) => s.name === name)) ?? [];
  if (unknown.length) throw new Error(`unknown scenario(s): ${unknown.join(', ')} (see --list)`);
  const selected = SCENARIOS.filter((s) => !only || only.includes(s.name));
  const suffix = values.suffix ? `.${values.suffix.replace(/^\./, '')}` : '';

  const dir = await mkdtemp(join(tmpdir(), 'extauth-record-'));
  await chmod(dir, 0o755); // as root, Postgres runs as "postgres" and must enter it
  const logFile = join(dir, 'worker.log');
  const logger = createLogger(privateLogDestination(logFile), 'info');
  installTemporalLogging(logger, 'WARN');
  console.log(`recording ${selected.map((s) => s.name).join(', ')} (logs: ${logFile})`);

  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const [postgres, temporal, bundle] = await Promise.all([
      startEmbeddedPostgres({ dataDir: join(dir, 'pg'), persistent: false, log: () => undefined }),
      startTemporalDevServer({ headless: true, searchAttributes: DEV_SERVER_SEARCH_ATTRIBUTES }),
      bundleLinkWorkflows(),
    ]);
    cleanups.push(() => postgres.stop(), () => temporal.stop());
    await migrateUp(postgres.databaseUrl);
    const bundlePath = join(dir, 'workflow-bundle.js');
    await writeFile(bundlePath, bundle);

    const provider = await FakeOAuthProvider.start({ latencyMs: 20 });
    cleanups.push(() => provider.close());
    const providerInput = [
      {
        id: GITHUB,
        type: 'github',
        clientId: provider.clientId,
        clientSecret: provider.clientSecret,
        tokenUrl: provider.tokenUrl,
        validateUrl: provider.validateUrl,
        revocationUrl: provider.revocationUrl,
        revocation: 'github-grant',
      },
      { id: NO_VALIDATE, type: 'oauth2', clientId: provider.clientId, clientSecret: provider.clientSecret, tokenUrl: provider.tokenUrl },
      {
        id: PROACTIVE,
        type: 'github',
        clientId: provider.clientId,
        clientSecret: provider.clientSecret,
        tokenUrl: provider.tokenUrl,
        validateUrl: provider.validateUrl,
        refreshAheadSeconds: 2,
        activeWindowSeconds: 4,
      },
      {
        id: KEEP_ALIVE,
        type: 'github',
        clientId: provider.clientId,
        clientSecret: provider.clientSecret,
        tokenUrl: provider.tokenUrl,
        validateUrl: provider.validateUrl,
        refreshAheadSeconds: 0,
        keepAliveSeconds: 3,
        refreshTokenWarnSeconds: 5,
      },
    ].map((entry) => ({ refreshAheadSeconds: 0, ...entry })); // the scenarios recorded before proactive refresh keep it off
    const providers = parseProviders(providerInput);
    const providersFile = join(dir, 'providers.json');
    await writeFile(providersFile, JSON.stringify(providerInput));
    const seedDeps = createActivityDeps({ databaseUrl: postgres.databaseUrl, providers, logger, cipher: null, sealer: fixtureTokenSealer() });
    cleanups.push(() => closeActivityDeps(seedDeps));

    const receiver = await startRecorderWebhookReceiver();
    cleanups.push(() => receiver.close());
    const stackOptions = { bundlePath, databaseUrl: postgres.databaseUrl, providers, logger, webhooks: [receiver.endpoint] };
    const mainStack = await startStack({ ...stackOptions, address: temporal.address });
    cleanups.push(() => mainStack.close());
    let canStack: Promise<{ stack: Stack; address: string }> | undefined;
    const ctx: Ctx = {
      provider,
      providersFile,
      databaseUrl: postgres.databaseUrl,
      main: mainStack,
      address: temporal.address,
      webhookEvents: receiver.types,
      continueAsNewStack: () =>
        (canStack ??= (async () => {
          const server = await startContinueAsNewServer(dir, temporal.cliPath ?? 'temporal');
          cleanups.push(() => server.stop());
          const stack = await startStack({ ...stackOptions, address: server.address });
          cleanups.push(() => stack.close());
          return { stack, address: server.address };
        })()),
      async seed(k, expiresInSeconds, { refreshTokenExpiresInSeconds, grant = provider.issueGrant({ familyId: k.userId }) } = {}) {
        await putLink(seedDeps.pool, k, {
          accessToken: grant.accessToken,
          refreshToken: grant.refreshToken,
          tokenType: 'bearer',
          expiresAt: new Date(Date.now() + expiresInSeconds * 1000).toISOString(),
          extra: { expires_in: grant.expiresIn },
          refreshTokenExpiresAt:
            refreshTokenExpiresInSeconds === undefined ? undefined : new Date(Date.now() + refreshTokenExpiresInSeconds * 1000).toISOString(),
        });
        return grant;
      },
    };

    await mkdir(HISTORIES_DIR, { recursive: true });
    for (const scenario of selected) {
      const started = Date.now();
      const exports = await scenario.run(ctx);
      for (const exp of exports) {
        const handle = exp.stack.temporal.workflow.getHandle(exp.workflowId, exp.runId);
        await waitClosed(handle);
        const text = historyToJSONText(await handle.fetchHistory());
        const plain = unencryptedPayloads(text);
        if (plain.length) throw new Error(`${scenario.name}: unencrypted payloads in history: ${plain.join(', ')}`);
        const leaked = secretsIn(text, provider.issuedTokens());
        if (leaked.length) throw new Error(`${scenario.name}: ${leaked.length} token(s) in plaintext in the history`);
        const readable = refreshMaterialIn((await decodedPayloads(text, fixtureCodecKeys())).map((p) => p.value));
        if (readable.length) throw new Error(`${scenario.name}: refresh token material readable with the payload (client) key: ${readable.join(', ')}`);
        const file = join(HISTORIES_DIR, `${scenario.name}${exp.part ? `.${exp.part}` : ''}${suffix}.json`);
        await writeFile(file, text);
        console.log(`  ${file.slice(HISTORIES_DIR.length + 1)}: ${JSON.parse(text).events.length} events`);
      }
      console.log(`${scenario.name}: ok (${Date.now() - started} ms)`);
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err) => console.error(`cleanup: ${(err as Error).message}`));
    await rm(dir, { recursive: true, force: true });
  }
}


main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
