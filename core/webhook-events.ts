// The link events extauth posts to webhook endpoints (docs/webhooks.md), as workflow code and activities share them.
// No I/O: the workflow builds events, the delivery activity signs and sends them. An event names the link and says
// what happened; it never carries a token, a fingerprint or a secret.
import type { LinkKey } from './types.js';

export const LINK_EVENT_TYPES = ['link.reauth_required', 'link.recovered', 'link.refresh_expiring', 'link.revoked'] as const;
export type LinkEventType = (typeof LINK_EVENT_TYPES)[number];

/** `data` of an event: who and what, bounded text only (the reason went through core/provider-text.ts when stored). */
export interface LinkEventData {
  provider: string;
  user: string;
  /** The link's workflow id (core/ids.ts), as the Web UI and `extauth status` name it. */
  link: string;
  /** reauth_required, revoked: why (the stored failure reason; the revoking operator's words). */
  reason?: string;
  /** refresh_expiring: when the refresh token expires (ISO). */
  refreshTokenExpiresAt?: string;
}

/** One event as the receiver gets it (the body); `id` travels as the `webhook-id` header, the same on every attempt. */
export interface LinkEvent {
  id: string;
  type: LinkEventType;
  /** When it happened (ISO). */
  timestamp: string;
  data: LinkEventData;
}

/** The longest reason an event carries, in characters. */
export const MAX_EVENT_REASON_CHARS = 300;

/**
 * The delivery workflow's id: one per event *occurrence* (`episode`), so that two runs of a link announcing the same
 * occurrence start one delivery (the second start is refused as a duplicate), and receivers see one webhook-id.
 */
export function webhookWorkflowId(type: LinkEventType, key: LinkKey, episode: string): string {
  return `extauth-webhook:${type}:${encodeURIComponent(key.providerId)}:${encodeURIComponent(key.userId)}:${encodeURIComponent(episode)}`;
}

/** The body of an event: what is signed and sent, byte for byte the same on every attempt. */
export function eventBody(event: LinkEvent): string {
  return JSON.stringify({ type: event.type, timestamp: event.timestamp, data: event.data });
}
