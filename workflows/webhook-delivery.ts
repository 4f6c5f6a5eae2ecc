// Link events to webhook endpoints (docs/webhooks.md). The link run's main loop announces an event by starting one
// delivery workflow for it and does not wait for the delivery: the delivery outlives the run (ParentClosePolicy
// ABANDON), retries for days (WEBHOOK_DELIVERY_OPTIONS), and survives worker kills like any workflow. Its id names the
// event's occurrence, so an occurrence announced twice (by two runs of the link) is delivered once.
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, proxyActivities, startChild, uuid4, WorkflowIdReusePolicy } from '@temporalio/workflow';
import type { ExtauthActivities } from '../activities/index.js';
import { linkWorkflowId } from '../core/ids.js';
import type { LinkKey } from '../core/types.js';
import { webhookWorkflowId, type LinkEvent, type LinkEventData, type LinkEventType } from '../core/webhook-events.js';
import { providerText } from '../core/provider-text.js';
import type { LinkRun } from './link-state.js';
import { WEBHOOK_DELIVERY_OPTIONS } from './policies.js';

export interface WebhookDeliveryInput {
  event: LinkEvent;
  /** Endpoint names; absent: those configured on the worker for the event's type, read when the delivery starts. */
  endpoints?: string[];
}

/** Delivers one event to each endpoint, each on its own retries: one receiver that is down delays no other. */
export async function webhookDeliveryWorkflow({ event, endpoints }: WebhookDeliveryInput): Promise<void> {
  const { webhookEndpoints } = proxyActivities<ExtauthActivities>({ startToCloseTimeout: 10_000, summary: 'list webhook endpoints' });
  const { deliverWebhook } = proxyActivities<ExtauthActivities>(WEBHOOK_DELIVERY_OPTIONS);
  const names = endpoints ?? (await webhookEndpoints(event.type));
  // Each outcome is logged and counted by the activity; a failed endpoint does not fail the others.
  await Promise.allSettled(names.map((endpoint) => deliverWebhook({ endpoint, event })));
}

/** What the link run announces: the type, the occurrence (`episode`, unique per link and type) and the facts. */
export interface Announcement {
  type: LinkEventType;
  episode: string;
  reason?: string;
  refreshTokenExpiresAt?: string;
}

/** The event as sent: `timestamp` is when the run announced it; the webhook-id is fixed here, for every attempt. */
export function linkEvent(key: LinkKey, { type, reason, refreshTokenExpiresAt }: Announcement, now: number): LinkEvent {
  const data: LinkEventData = { provider: key.providerId, user: key.userId, link: linkWorkflowId(key) };
  if (reason) data.reason = providerText(reason);
  if (refreshTokenExpiresAt) data.refreshTokenExpiresAt = refreshTokenExpiresAt;
  return { id: `msg_${uuid4().replace(/-/g, '')}`, type, timestamp: new Date(now).toISOString(), data };
}

/**
 * Starts the delivery of an announcement (main loop only). Returns once the delivery workflow has started, not when it
 * has delivered. Already started (the occurrence was announced before): nothing to do.
 */
export async function announce(key: LinkKey, announcement: Announcement, now: number): Promise<void> {
  const event = linkEvent(key, announcement, now);
  try {
    await startChild(webhookDeliveryWorkflow, {
      workflowId: webhookWorkflowId(announcement.type, key, announcement.episode),
      args: [{ event }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      staticSummary: `${announcement.type} ${key.providerId}/${key.userId}`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}

/** The link run's queued announcements, started in order (main loop only); a recovery is then acknowledged in the row. */
export async function announcePending(run: LinkRun): Promise<void> {
  const { acknowledgeRecovery } = proxyActivities<ExtauthActivities>({
    startToCloseTimeout: 10_000,
    retry: { initialInterval: 250, backoffCoefficient: 2, maximumInterval: 5_000 },
    summary: 'acknowledge recovery',
  });
  while (run.announcements.length > 0) {
    const next = run.announcements.shift()!;
    await announce(run.key, next, Date.now());
    if (next.type === 'link.recovered') await acknowledgeRecovery({ ...run.key, since: next.episode });
  }
}
