// Link events announced from outside a link run: `link.revoked`, sent by the command that deletes a link and revokes
// its grant. The worker's delivery workflow (workflows/webhook-delivery.ts) signs and delivers it like the events the
// link runs announce; the caller needs only a Temporal client, never a webhook URL or secret.
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { linkWorkflowId } from '../core/ids.js';
import type { LinkKey } from '../core/types.js';
import { webhookWorkflowId, type LinkEvent } from '../core/webhook-events.js';
import { providerText } from '../core/provider-text.js';
import type { webhookDeliveryWorkflow } from '../workflows/webhook-delivery.js';

export interface LinkRevokedAnnouncement extends LinkKey {
  /** Why, in the operator's words (bounded to 300 characters, control characters removed). */
  reason?: string;
  /**
   * The revocation's identity (e.g. the token version deleted): announcing the same one twice (a retried command) starts
   * one delivery and the receiver sees one webhook-id.
   */
  episode: string;
}

/** Starts the delivery of `link.revoked` to every endpoint the workers have for it; resolves once started. */
export async function announceLinkRevoked(temporal: Client, taskQueue: string, revoked: LinkRevokedAnnouncement): Promise<void> {
  const key = { providerId: revoked.providerId, userId: revoked.userId };
  const event: LinkEvent = {
    id: `msg_${randomUUID().replace(/-/g, '')}`,
    type: 'link.revoked',
    timestamp: new Date().toISOString(),
    data: { provider: key.providerId, user: key.userId, link: linkWorkflowId(key), ...(revoked.reason ? { reason: providerText(revoked.reason) } : {}) },
  };
  try {
    await temporal.workflow.start<typeof webhookDeliveryWorkflow>('webhookDeliveryWorkflow', {
      workflowId: webhookWorkflowId('link.revoked', key, revoked.episode),
      taskQueue,
      args: [{ event }],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
