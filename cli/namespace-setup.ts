// `extauth setup-namespace`: what a Temporal cluster needs before extauth's workers start. The namespace (created if
// missing, with a retention period) and extauth's search attributes go through the API; dynamic config cannot (it is
// the server's file, or a support ticket / the namespace settings on Temporal Cloud), so it is printed as instructions.
import { msToTs } from '@temporalio/common/lib/time.js';
import type { NativeConnection } from '@temporalio/worker';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureSearchAttributes } from '../worker/search-attributes.js';

/** Right after a namespace is created on a fresh database, calls that name it fail with "not found" for ~1.5 s. */
const NAMESPACE_VISIBLE_WITHIN_MS = 30_000;

export interface NamespaceSetupResult {
  created: boolean;
  retentionDays: number;
}

export async function setupNamespace(
  connection: NativeConnection,
  options: { namespace: string; retentionDays: number; say: (msg: string) => void },
): Promise<NamespaceSetupResult> {
  const { namespace, retentionDays, say } = options;
  let created = false;
  if (await namespaceExists(connection, namespace)) {
    say(`namespace ${namespace}: exists (its retention is left as it is)`);
  } else {
    try {
      await connection.workflowService.registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: msToTs(`${retentionDays} days`),
        description: 'extauth: one workflow per link (provider, user)',
      });
      created = true;
      say(`namespace ${namespace}: created, retention ${retentionDays} d`);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err; // another setup created it meanwhile: fine
      say(`namespace ${namespace}: exists (created meanwhile)`);
    }
  }
  await retryWhileNamespaceUnknown(() => ensureSearchAttributes(connection, namespace));
  say(`namespace ${namespace}: search attributes ExtauthProvider, ExtauthUser, ExtauthState registered`);
  return { created, retentionDays };
}

async function namespaceExists(connection: NativeConnection, namespace: string): Promise<boolean> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

async function retryWhileNamespaceUnknown(fn: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + NAMESPACE_VISIBLE_WITHIN_MS;
  for (let delay = 250; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      return await fn();
    } catch (err) {
      if (!/not found/i.test((err as Error).message) || Date.now() > deadline) throw err;
      await sleep(delay);
    }
  }
}

const grpcCode = (err: unknown) => (err as { code?: number }).code;
const isNotFound = (err: unknown) => grpcCode(err) === 5;
const isAlreadyExists = (err: unknown) => grpcCode(err) === 6;

/** The dynamic config extauth relies on: printed, since no API sets it. */
export function dynamicConfigInstructions(namespace: string): string {
  return [
    'dynamic config extauth relies on (the server\'s dynamic config file; on Temporal Cloud ask support or use the namespace settings):',
    '  system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute: 2',
    '      a link run whose workflow tasks keep failing is flagged (TemporalReportedProblems) after 2 problems instead of 5,',
    '      and the workers\' recovery sweep replaces it within about a minute (docs/operations.md, section 5; Server 1.28+)',
    `      - constraints: { namespace: "${namespace}" }`,
    '        value: 2',
    '  history.maxInFlightUpdates: leave at 10 or raise it',
    '      at most this many agents wait on one link at once (one update each); the client turns the rest into queries',
    '      and retries, so the default works; raising it lets more agents wait without retrying (docs/performance.md, P3)',
    '  history.transferProcessorMaxPollRPS: default 20 per shard',
    '      every persisted workflow task waits up to 1/20 s in its shard\'s transfer queue; with hundreds of shards this',
    '      is never seen, on a cluster with very few shards (or the single-shard dev server) raise it (dev: 1000)',
    'check them with: temporal operator namespace describe ' + namespace + ' ; the server logs unknown keys but validate-dynamic-config does not fail on them',
  ].join('\n');
}
