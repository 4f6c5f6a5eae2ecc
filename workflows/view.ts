// What operators see of a link: its state, status and the Web UI's current details. Pure functions.
import type { LinkCounters, LinkKey, LinkSnapshot, LinkState, LinkStatus, Validation } from '../core/types.js';

export interface LinkView {
  key: LinkKey;
  link: LinkSnapshot | undefined;
  validation: Validation;
  lastError: string;
  refreshing: boolean;
  counters: LinkCounters;
  /** The run's refresh-token expiry warning fired for the current token (a timer, not a clock reading). */
  refreshExpiring: boolean;
  nextProactiveRefreshAt: number | undefined;
  waitingForRelink: number;
}

export function linkState({ link, validation, lastError, refreshing, refreshExpiring }: LinkView): LinkState {
  if (link && !link.hasRefreshToken && link.failureReason) return 'reauth_required';
  if (refreshing) return 'refreshing';
  if (validation !== 'valid' || lastError) return 'degraded';
  return refreshExpiring ? 'refresh_expiring' : 'ok';
}

export function linkStatus(view: LinkView): LinkStatus {
  const { key, link } = view;
  return {
    ...key,
    state: linkState(view),
    validation: view.validation,
    tokenVersion: link?.version ?? null,
    expiresAt: link?.expiresAt ?? null,
    failureReason: link?.failureReason ?? '',
    lastError: view.lastError,
    lastRefreshedAt: link?.lastRefreshedAt ?? null,
    accessTokenFingerprint: link?.accessTokenFingerprint ?? null,
    refreshTokenFingerprint: link?.refreshTokenFingerprint ?? null,
    refreshTokenExpiresAt: link?.refreshTokenExpiresAt ?? null,
    nextProactiveRefreshAt: view.nextProactiveRefreshAt === undefined ? null : new Date(view.nextProactiveRefreshAt).toISOString(),
    waitingForRelink: view.waitingForRelink,
    counters: view.counters,
  };
}

/** Markdown for the Web UI's "current details" of the run. */
export function currentDetails(view: LinkView): string {
  const { key, link, counters } = view;
  return [
    `**${linkState(view)}** · link \`${key.providerId}/${key.userId}\``,
    `expires: ${link?.expiresAt ?? 'unknown'} · last refresh: ${link?.lastRefreshedAt ?? 'never'} · token version ${link?.version ?? '-'}`,
    link?.refreshTokenExpiresAt ? `refresh token expires: ${link.refreshTokenExpiresAt}` : '',
    view.nextProactiveRefreshAt !== undefined ? `next refresh on its own: ${new Date(view.nextProactiveRefreshAt).toISOString()}` : '',
    view.waitingForRelink ? `agents waiting for re-authentication: ${view.waitingForRelink}` : '',
    link?.failureReason ? `failure: ${link.failureReason}` : '',
    view.lastError ? `last error: ${view.lastError}` : '',
    `requests ${counters.requests} · refreshes ${counters.refreshes} (${counters.proactiveRefreshes} on its own) · validations ${counters.validations}`,
  ]
    .filter(Boolean)
    .join('\n\n');
}
