// Posts one link event to one endpoint, signed (activities/webhook-signature.ts). Each attempt ends in one outcome,
// counted (extauth_webhook_deliveries_total{event,outcome}) and logged with the endpoint's name, the event type, the
// webhook-id, the HTTP status and the attempt, never the URL's secret parts, the secret or the body:
//   delivered  2xx;
//   retry      5xx, 408, 429, timeouts, connection errors: thrown retryable, Temporal retries with backoff
//              (workflows/webhook-delivery.ts), the webhook-id unchanged, so the receiver can drop repeats;
//   failed     any other answer (4xx: the receiver refuses it), an endpoint no longer configured, or the last attempt
//              the retry budget allows: thrown non-retryable.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { msToNumber } from '@temporalio/common';
import { eventBody, type LinkEvent, type LinkEventType } from '../core/webhook-events.js';
import { request, type Dispatcher } from 'undici';
import { HttpCallError, toCallError } from './http.js';
import type { ActivityDeps } from './deps.js';
import { signWebhook } from './webhook-signature.js';

export const WebhookFailure = {
  /** Not delivered yet; Temporal tries again. */
  Unavailable: 'WebhookUnavailable',
  /** Refused for good, or out of retries. */
  Failed: 'WebhookFailed',
} as const;

export interface DeliverWebhookInput {
  /** The endpoint's name in the worker's configuration (config/webhooks.ts): never its URL or secret. */
  endpoint: string;
  event: LinkEvent;
}

/** One attempt's HTTP deadline: receivers should answer at once and work later (Standard Webhooks). */
export const WEBHOOK_HTTP_TIMEOUT_MS = 15_000;

export function makeWebhookEndpoints(deps: ActivityDeps) {
  /** The names of the endpoints that take events of `type`, as configured now. */
  return async function webhookEndpoints(type: LinkEventType): Promise<string[]> {
    return deps.webhooks.namesFor(type);
  };
}

export function makeDeliverWebhook(deps: ActivityDeps) {
  return async function deliverWebhook({ endpoint: name, event }: DeliverWebhookInput): Promise<void> {
    const { attempt } = Context.current().info;
    const facts = { endpoint: name, event: event.type, webhookId: event.id, provider: event.data.provider, link: event.data.user, attempt };
    const log = deps.logger.child({ step: 'webhook' });
    const outcome = (result: 'delivered' | 'retry' | 'failed') => deps.metrics.webhookDeliveries.inc({ event: event.type, outcome: result });
    const endpoint = deps.webhooks.get(name);
    if (!endpoint) {
      outcome('failed');
      log.warn({ ...facts, outcome: 'failed', cause: 'endpoint not configured' }, 'webhook not delivered: the endpoint is no longer configured on this worker');
      throw ApplicationFailure.nonRetryable(`webhook endpoint "${name}" is not configured`, WebhookFailure.Failed);
    }
    const body = eventBody(event);
    const headers = { 'content-type': 'application/json', ...signWebhook(endpoint.key, event.id, Math.floor(Date.now() / 1000), body) };
    let status: number | undefined;
    let cause: string;
    try {
      status = await post(deps.http, endpoint.url, headers, body);
      if (status >= 200 && status < 300) {
        outcome('delivered');
        log.info({ ...facts, outcome: 'delivered', status }, 'webhook delivered');
        return;
      }
      cause = `HTTP ${status}`;
      if (!retryableStatus(status)) {
        outcome('failed');
        log.warn({ ...facts, outcome: 'failed', status, cause }, 'webhook refused by the receiver; not retried');
        throw ApplicationFailure.nonRetryable(`the receiver answered ${cause}`, WebhookFailure.Failed);
      }
    } catch (err) {
      if (!(err instanceof HttpCallError)) throw err;
      cause = err.message;
    }
    if (lastAttempt()) {
      outcome('failed');
      log.warn({ ...facts, outcome: 'failed', status, cause }, 'webhook not delivered: out of retries');
      throw ApplicationFailure.nonRetryable(`not delivered (${cause}); out of retries`, WebhookFailure.Failed);
    }
    outcome('retry');
    log.warn({ ...facts, outcome: 'retry', status, cause }, 'webhook not delivered yet; retrying with backoff');
    throw ApplicationFailure.retryable(`not delivered yet (${cause})`, WebhookFailure.Unavailable);
  };
}

/** The receiver's status; its answer body is read and dropped (a 2xx with a large page is still delivered). */
async function post(dispatcher: Dispatcher, url: string, headers: Record<string, string>, body: string): Promise<number> {
  try {
    const response = await request(url, {
      dispatcher,
      method: 'POST',
      headers,
      body,
      headersTimeout: WEBHOOK_HTTP_TIMEOUT_MS,
      bodyTimeout: WEBHOOK_HTTP_TIMEOUT_MS,
      signal: AbortSignal.timeout(WEBHOOK_HTTP_TIMEOUT_MS),
    });
    await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    return response.statusCode;
  } catch (err) {
    throw toCallError(err);
  }
}

/** Timeouts and overload say "later"; any other refusal will not change by retrying. */
function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** Whether the retry policy's next attempt would start after the schedule-to-close budget ends (then this one is the last). */
function lastAttempt(): boolean {
  const { attempt, retryPolicy, scheduledTimestampMs, scheduleToCloseTimeoutMs } = Context.current().info;
  if (!scheduleToCloseTimeoutMs) return false;
  const initial = retryPolicy?.initialInterval === undefined ? 1_000 : msToNumber(retryPolicy.initialInterval);
  const maximum = retryPolicy?.maximumInterval === undefined ? 100 * initial : msToNumber(retryPolicy.maximumInterval);
  const next = Math.min(initial * (retryPolicy?.backoffCoefficient ?? 2) ** (attempt - 1), maximum);
  return Date.now() + next >= scheduledTimestampMs + scheduleToCloseTimeoutMs;
}
