// Rotated tokens that exist only in the history of a run that ended (failed on a nondeterminism error, was
// terminated) after its exchange was answered and before persist wrote the answer.
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/index.js';
import proto from '@temporalio/proto';
import type { LinkKey, TokenSet } from '../core/types.js';
import { forgetExchangeRun, getLink, writeRotatedTokens, type LinkRow } from '../store/links.js';
import type { ActivityDeps } from './deps.js';
import type { ExchangeInput, ExchangeResult } from './exchange.js';
import { openTokenSet, type RecordedTokenSet } from './sealed-tokens.js';

const EventType = proto.temporal.api.enums.v1.EventType;
const EXCHANGE_ACTIVITY = 'exchangeRefreshToken';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

/**
 * A run other than the current one marked an exchange of the row's refresh token as sent and never wrote its
 * answer. If that run's history holds the answer (new tokens), they are written now, compare-and-set on the
 * version that run read, and the written row is returned. Undefined: nothing to recover (no answer in that
 * history, or its history is gone: the row then stops naming the run), or the row moved on meanwhile; the row is
 * then used as it is.
 */
export async function recoverRotatedTokens(
  deps: ActivityDeps,
  client: Client,
  workflowId: string,
  key: LinkKey,
  row: LinkRow,
): Promise<LinkRow | undefined> {
  const runId = row.exchangeRunId!;
  const log = deps.logger.child({ provider: key.providerId, link: key.userId, step: 'recover', fromRun: runId, tokenVersion: row.tokenVersion });
  let tokens: TokenSet | undefined;
  try {
    const events = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
    const recorded = await answeredExchange(client, events, row.tokenVersion);
    // Sealed with the worker key by the exchange (only a run recorded before sealing existed holds it in the clear).
    tokens = recorded && openTokenSet(deps.sealer, key, recorded);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) {
      // The server unreachable, or a payload or worker key not configured: the load activity retries, the row stays as it is.
      log.warn({ cause: (err as Error).message }, 'could not read the answer of the last exchange from the run that sent it; will retry');
      throw err;
    }
    log.warn("the run that sent the last exchange is no longer in Temporal's retention; its answer, if any, cannot be recovered");
    await forgetExchangeRun(deps.pool, key, row.tokenVersion, runId);
    return undefined;
  }
  if (!tokens) {
    log.info('the run that sent the last exchange recorded no answer to it; nothing to recover');
    await forgetExchangeRun(deps.pool, key, row.tokenVersion, runId);
    return undefined;
  }
  const written = await writeRotatedTokens(deps.pool, key, row.tokenVersion, tokens, deps.cipher);
  if (!written) {
    log.warn('the row changed while recovering (a re-link?); keeping the stored tokens');
    return getLink(deps.pool, key, deps.cipher);
  }
  deps.metrics.recoveredRotations.inc({ provider: key.providerId });
  log.warn({ outcome: 'recovered' }, 'recovered rotated tokens from the history of a run that ended before saving them');
  return written;
}

/** The tokens of the last exchange in `events` that read `version` and was answered with new tokens. */
async function answeredExchange(client: Client, events: HistoryEvent[], version: number): Promise<RecordedTokenSet | undefined> {
  const converter = client.options.loadedDataConverter;
  const exchangesScheduled = new Map<number, HistoryEvent>();
  for (const event of events) {
    if (event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED && event.activityTaskScheduledEventAttributes?.activityType?.name === EXCHANGE_ACTIVITY) {
      exchangesScheduled.set(Number(event.eventId), event);
    }
  }
  for (const event of [...events].reverse()) {
    const completed = event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED ? event.activityTaskCompletedEventAttributes : undefined;
    const scheduled = completed && exchangesScheduled.get(Number(completed.scheduledEventId));
    if (!scheduled) continue;
    const input = await decodeFromPayloadsAtIndex<ExchangeInput>(converter, 0, scheduled.activityTaskScheduledEventAttributes?.input?.payloads);
    // A run's first step names no version in its input (it read the row itself): its answer names the one it exchanged.
    if (input.expectedVersion !== undefined && input.expectedVersion !== version) continue;
    const result = await decodeFromPayloadsAtIndex<ExchangeResult | { kind: 'exchanged'; tokens: RecordedTokenSet; version?: number }>(converter, 0, completed.result?.payloads);
    const exchanged = result.kind === 'exchanged' ? (result.version ?? input.expectedVersion) : input.expectedVersion;
    if (exchanged !== version) continue;
    return result.kind === 'exchanged' ? result.tokens : undefined;
  }
  return undefined;
}
