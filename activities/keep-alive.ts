// The keep-alive sweep: links nobody asks for still get their refresh token used before the provider revokes it for
// inactivity (Entra: 90 days unused, Google: 6 months). A link with no open run has no timer of its own, so the
// keep-alive schedule (worker/keep-alive-schedule.ts) runs this every hour: it picks the links that are due and asks
// each one's run to refresh (signal-with-start), which opens a run only for the links actually due.
import { ApplicationFailure } from '@temporalio/activity';
import type { ProviderConfig } from '../providers/config.js';
import { listKeepAliveDue, type KeepAliveRule } from '../store/links.js';
import type { ActivityDeps } from './deps.js';

/** Links handled per sweep at most; the rest (oldest first) wait for the next one. */
export const KEEP_ALIVE_BATCH_SIZE = 500;
/**
 * A link is refreshed this long before its keepAliveSeconds have passed (at most half of them), so that an hourly
 * sweep that runs late, or skips once, still comes in time.
 */
export const KEEP_ALIVE_MARGIN_SECONDS = 2 * 3_600;
/** Refresh requests in flight at once: each is one signal-with-start; the refreshes themselves run in the link runs. */
const PARALLEL_REQUESTS = 8;

export interface KeepAliveSweepInput {
  /** Default KEEP_ALIVE_BATCH_SIZE. */
  batchSize?: number;
}

export interface KeepAliveSweepResult {
  /** Links found due (at most the batch size). */
  due: number;
  /** Of those, links whose run was asked to refresh. */
  requested: number;
  failed: number;
  /** The batch was full: more links may be due, the next sweep continues. */
  batchFull: boolean;
}

/** The keep-alive rule of each configured provider that has one (keepAliveSeconds 0: none). */
export function keepAliveRules(providers: readonly ProviderConfig[]): KeepAliveRule[] {
  return providers
    .filter((p) => p.keepAliveSeconds > 0)
    .map((p) => ({
      providerId: p.id,
      dueAfterSeconds: p.keepAliveSeconds - Math.min(KEEP_ALIVE_MARGIN_SECONDS, p.keepAliveSeconds / 2),
      // The run would defer such a refresh to the told expiry anyway (workflows/link.ts, forceRefresh), holding a
      // timer and checking the token at the provider each time it is asked: the sweep waits for the expiry instead.
      waitForAccessTokenExpiry: p.refreshEndsOldAccessToken,
    }));
}

export function makeKeepAliveSweep(deps: Pick<ActivityDeps, 'pool' | 'providers' | 'logger' | 'extauth'>) {
  return async function keepAliveSweep(input: KeepAliveSweepInput = {}): Promise<KeepAliveSweepResult> {
    const extauth = deps.extauth;
    if (!extauth) throw ApplicationFailure.nonRetryable('this worker has no Temporal client to open link runs with; the keep-alive sweep cannot run here');
    const batchSize = input.batchSize ?? KEEP_ALIVE_BATCH_SIZE;
    const providers = deps.providers.ids().map((id) => deps.providers.get(id)!);
    const due = await listKeepAliveDue(deps.pool, keepAliveRules(providers), batchSize, KEEP_ALIVE_MARGIN_SECONDS);
    let requested = 0;
    let failed = 0;
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const key = due[next++]!;
        try {
          await extauth.requestRefresh({ provider: key.providerId, user: key.userId });
          requested++;
        } catch (err) {
          failed++;
          deps.logger.warn({ provider: key.providerId, link: key.userId, step: 'keep-alive', cause: (err as Error).message }, 'keep-alive could not ask the link run to refresh; the next sweep tries again');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_REQUESTS, due.length) }, worker));
    const result = { due: due.length, requested, failed, batchFull: due.length === batchSize };
    if (due.length > 0) deps.logger.info({ step: 'keep-alive', ...result }, 'keep-alive sweep asked idle links to refresh');
    return result;
  };
}
