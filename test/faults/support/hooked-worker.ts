// TEST-ONLY worker entry (never used by `extauth`): the same worker as `extauth worker` (same activities,
// workflows, codec, search attributes), plus one optional pause at a step boundary so that a test can
// SIGKILL the process, or stop Postgres / restart Temporal, at exactly that point.
//
//   EXTAUTH_TEST_PAUSE_FILE=/tmp/x/pause.json, holding {"step":"before-persist","user":"u1","marker":"/tmp/x/paused","release":"/tmp/x/go"}
//
// The file is read at each step, so a test arms running workers by writing it.
// step: exchange-answered-unjournaled (the provider answered, its answer is not yet journaled on the row: the
// journal's UPDATE is held back, before it is sent), exchange-answered (the provider answered and the answer is
// journaled, Temporal has not recorded it), before-persist (the
// exchange is recorded, nothing written), after-persist (the row is written, the activity's result
// is not recorded), validate-answered (validation answered, result not recorded). Only activities for
// `user` pause, and only once across all processes: the first to create `marker` (O_EXCL) pauses, prints
// `EXTAUTH_TEST_PAUSED <step>` on stdout, and waits forever or, with `release`, until that file exists.
// EXTAUTH_TEST_WORKFLOW_BUNDLE: a prebuilt workflow bundle (saves bundling at every restart).
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Pool } from 'pg';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createActivities } from '../../../activities/index.js';
import { extauthDataConverter } from '../../../codec/data-converter.js';
import { codecKeysFromEnv } from '../../../codec/keys.js';
import { readEnv, resolveEndpoints } from '../../../config/env.js';
import { createLogger, installTemporalLogging } from '../../../config/logger.js';
import { loadProvidersFile } from '../../../providers/config.js';
import { WORKER_SHUTDOWN_OPTIONS, WORKFLOWS_PATH } from '../../../worker.js';
import { WORKFLOW_FAILURE_ERROR_TYPES } from '../../../sdk-workarounds.js';
import { createActivityDeps } from '../../../worker/activity-deps.js';
import { ensureSearchAttributes } from '../../../worker/search-attributes.js';
import { startWorkerSweep } from '../../../worker/launch.js';
import { loadWebhookEndpoints } from '../../../config/webhooks.js';

export type PauseStep = 'exchange-answered-unjournaled' | 'exchange-answered' | 'before-persist' | 'after-persist' | 'validate-answered';
export interface PauseSpec {
  step: PauseStep;
  user: string;
  marker: string;
  release?: string;
}

const pauseFile = process.env.EXTAUTH_TEST_PAUSE_FILE;

function armed(): PauseSpec | undefined {
  if (!pauseFile || !existsSync(pauseFile)) return undefined;
  try {
    return JSON.parse(readFileSync(pauseFile, 'utf8')) as PauseSpec;
  } catch {
    return undefined; // being written
  }
}

async function maybePause(step: PauseStep, user: string): Promise<void> {
  const spec = armed();
  if (!spec || spec.step !== step || spec.user !== user) return;
  try {
    writeFileSync(spec.marker, String(process.pid), { flag: 'wx' });
  } catch {
    return; // someone already paused here once
  }
  process.stdout.write(`EXTAUTH_TEST_PAUSED ${step}\n`);
  for (;;) {
    if (spec.release && existsSync(spec.release)) return;
    await sleep(50);
  }
}

/**
 * The pool the activities get, with one pause: right before the rotation journal's UPDATE (store/links.ts
 * writePendingRotation) for `user` is sent, i.e. inside the exchange activity between the provider's answer and
 * the journal write. The pool is wrapped here so that nothing in activities/ knows about the hook.
 */
const JOURNAL_WRITE = /^UPDATE external_auth_links SET pending_rotation = \$4/;
function pausingBeforeJournal(pool: Pool): Pool {
  return new Proxy(pool, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop !== 'query') return typeof value === 'function' ? value.bind(target) : value;
      return async (text: unknown, params?: unknown[]) => {
        if (typeof text === 'string' && JOURNAL_WRITE.test(text) && typeof params?.[1] === 'string') await maybePause('exchange-answered-unjournaled', params[1]);
        return target.query(text as string, params);
      };
    },
  });
}

const endpoints = resolveEndpoints(readEnv());
const providers = loadProvidersFile(endpoints.providersFile!);
const logger = createLogger();
installTemporalLogging(logger);
const deps = createActivityDeps({ databaseUrl: endpoints.databaseUrl!, providers, logger, webhooks: loadWebhookEndpoints(process.env, endpoints.providersFile) });
deps.pool = pausingBeforeJournal(deps.pool); // in place: the sweep sets deps.extauth on this object later
const real = createActivities(deps);
type A = typeof real;
const activities: A = {
  ...real,
  async exchangeRefreshToken(input: Parameters<A['exchangeRefreshToken']>[0]) {
    const result = await real.exchangeRefreshToken(input);
    await maybePause('exchange-answered', input.userId);
    return result;
  },
  async persistRotatedTokens(input: Parameters<A['persistRotatedTokens']>[0]) {
    await maybePause('before-persist', input.userId);
    const result = await real.persistRotatedTokens(input);
    await maybePause('after-persist', input.userId);
    return result;
  },
  async validateAccessToken(input: Parameters<A['validateAccessToken']>[0]) {
    const result = await real.validateAccessToken(input);
    await maybePause('validate-answered', input.userId);
    return result;
  },
};

const connection = await NativeConnection.connect({ address: endpoints.temporalAddress });
await ensureSearchAttributes(connection, endpoints.namespace);
const bundle = process.env.EXTAUTH_TEST_WORKFLOW_BUNDLE;
const worker = await Worker.create({
  connection,
  namespace: endpoints.namespace,
  taskQueue: endpoints.taskQueue,
  activities,
  dataConverter: extauthDataConverter(codecKeysFromEnv(process.env)),
  ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: WORKFLOWS_PATH }),
  workflowFailureErrorTypes: WORKFLOW_FAILURE_ERROR_TYPES,
  ...WORKER_SHUTDOWN_OPTIONS,
});
// Every 10 s instead of 60 s, so that a 90 s soak sees stuck runs ended and replaced.
const sweep = startWorkerSweep(worker, deps, { taskQueue: endpoints.taskQueue, logger, intervalMs: 10_000 });
logger.info({ taskQueue: endpoints.taskQueue, hooked: true }, 'worker started');
await worker.run();
await sweep.stop();
process.exit(0);
