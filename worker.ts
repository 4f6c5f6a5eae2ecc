// Creates the extauth worker: connection, task queue, workflow bundle and activities wired to their dependencies.
// The worker process, its companions and its metrics live in worker/.
import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions, type WorkflowBundleOption } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import { extauthDataConverter, FAILURE_CONVERTER_PATH } from './codec/data-converter.js';
import type { CodecKeys } from './codec/keys.js';
import { assertWorkerKeyApart } from './codec/seal.js';
import { createActivities, type ActivityDeps } from './activities/index.js';
import { DEFAULT_TUNING } from './workflows/policies.js';
import { WORKFLOW_FAILURE_ERROR_TYPES } from './sdk-workarounds.js';
import { cacheOption } from './worker/cache.js';
import { ensureSearchAttributes } from './worker/search-attributes.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('./workflows/index.ts', import.meta.url));

/** Bundles the workflows ahead of time (tests, recorder, benchmarks), with the failure converter workers use. */
export async function bundleLinkWorkflows(workflowsPath = WORKFLOWS_PATH): Promise<string> {
  const quiet = () => undefined;
  const logger = { trace: quiet, debug: quiet, info: quiet, log: quiet, warn: (m: string) => console.warn(m), error: (m: string) => console.error(m) };
  const { code } = await bundleWorkflowCode({ workflowsPath, failureConverterPath: FAILURE_CONVERTER_PATH, logger });
  return code;
}

export interface ExtauthWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** Undefined only in the test that proves plaintext checks can fail: production always encrypts. */
  codecKeys: CodecKeys | undefined;
  /** A prebuilt bundle, as code or a file path (tests build one per run); by default the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleOption;
  /** Runs kept in memory (default: worker/cache.ts). */
  maxCachedWorkflows?: number;
}

/**
 * A worker asked to stop (SIGTERM: a deploy, a scale-down; SIGINT) stops polling and lets the activities it runs
 * finish, so that Temporal records their results: an exchange's answer is the only copy of a rotated refresh token,
 * and a worker killed before reporting it loses that rotation (docs/reliability.md). After the grace the SDK asks the
 * activities still running to cancel; extauth's activities do not abort on it (an exchange must never abandon a
 * request the provider may already have answered), so each still ends by its own deadline, an exchange attempt
 * within DEFAULT_TUNING.exchangeAttemptMs (15 s). Deploys must leave at least 30 s between SIGTERM and SIGKILL
 * (docs/operations.md, "Stopping and deploys").
 */
export const WORKER_SHUTDOWN_GRACE_MS = DEFAULT_TUNING.exchangeAttemptMs + 5_000;
export const WORKER_SHUTDOWN_OPTIONS = { shutdownGraceTime: WORKER_SHUTDOWN_GRACE_MS } satisfies Partial<WorkerOptions>;


/** The worker's options: registers the search attributes first, since a missing one would fail every link run's task. */
export async function extauthWorkerOptions(options: ExtauthWorkerOptions): Promise<WorkerOptions> {
  assertWorkerKeyApart(options.deps.sealer, options.codecKeys);
  await ensureSearchAttributes(options.connection, options.namespace);
  return {
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities(options.deps),
    ...(options.codecKeys ? { dataConverter: extauthDataConverter(options.codecKeys) } : {}),
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    ...cacheOption(options.maxCachedWorkflows),
    ...WORKER_SHUTDOWN_OPTIONS,
    // A run whose history cannot be replayed fails instead of retrying its task forever (sdk-workarounds.ts, 2).
    workflowFailureErrorTypes: WORKFLOW_FAILURE_ERROR_TYPES,
  };
}

export async function createExtauthWorker(options: ExtauthWorkerOptions): Promise<Worker> {
  return Worker.create(await extauthWorkerOptions(options));
}

