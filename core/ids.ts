import type { LinkKey } from './types.js';

const PREFIX = 'extauth-link';

/**
 * One workflow per link. Both parts are percent-encoded so that a ':' or '/' inside a provider or
 * user id cannot make two different links share an id.
 */
export function linkWorkflowId({ providerId, userId }: LinkKey): string {
  return `${PREFIX}:${encodeURIComponent(providerId)}:${encodeURIComponent(userId)}`;
}

export function parseLinkWorkflowId(workflowId: string): LinkKey | undefined {
  const parts = workflowId.split(':');
  if (parts.length !== 3 || parts[0] !== PREFIX) return undefined;
  return { providerId: decodeURIComponent(parts[1]!), userId: decodeURIComponent(parts[2]!) };
}
