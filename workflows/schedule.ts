// When a link's run should act without being asked: proactive refresh, keep-alive, refresh-token expiry warning.
// Pure functions of the run's state (no clock reading), so the run and its tests agree.
import type { LinkSnapshot } from '../core/types.js';

export interface ScheduleInput {
  link: LinkSnapshot | undefined;
  /** Workflow time (ms) of the last agent request, touch or re-link. */
  lastTouched: number;
  /** Set after a proactive refresh failed: no proactive attempt before it. */
  retryAt: number | undefined;
  /** When the run started: keep-alive counts from it when the link was never refreshed. */
  since: number;
  /**
   * Plan keep-alive refreshes too. The told expiry does (workflows/schedule.ts toldExpiry: a promise must allow for
   * them); the run's own plan does not, since the hourly keep-alive sweep (activities/keep-alive.ts) covers idle
   * links: a run the sweep opened finishes once idle instead of staying open on a keep-alive timer.
   */
  keepAlive: boolean;
}

/**
 * Epoch ms at which the run should refresh on its own, or undefined when it should not. Proactive refresh runs
 * only for active links (asked for within the window) and is due `refreshAheadSeconds` before expiry, capped at
 * half the token's lifetime so short-lived tokens are not refreshed on every wake. Keep-alive refreshes an idle
 * link's refresh token at least every `keepAliveSeconds`, and before the refresh token itself expires.
 */
export function proactiveRefreshDue({ link, lastTouched, retryAt, since, keepAlive }: ScheduleInput): number | undefined {
  const schedule = link?.schedule;
  if (!link || !schedule || !link.hasRefreshToken) return undefined;
  const candidates: number[] = [];

  const active = activeUntil({ link, lastTouched });
  if (active !== undefined) {
    const aheadMs = Math.min(schedule.refreshAheadSeconds, link.lifetimeSeconds ? link.lifetimeSeconds / 2 : Infinity) * 1000;
    const due = Date.parse(link.expiresAt!) - aheadMs;
    if (due < active) candidates.push(due);
  }
  if (keepAlive && schedule.keepAliveSeconds > 0) {
    const base = link.lastRefreshedAt ? Date.parse(link.lastRefreshedAt) : since;
    candidates.push(base + schedule.keepAliveSeconds * 1000);
    const refreshExpiry = refreshTokenExpiry(link);
    if (refreshExpiry !== undefined) {
      const lifeLeft = refreshExpiry - base;
      candidates.push(refreshExpiry - Math.min(schedule.refreshAheadSeconds * 1000 || 300_000, lifeLeft / 2));
    }
  }
  if (candidates.length === 0) return undefined;
  return Math.max(Math.min(...candidates), retryAt ?? -Infinity);
}

/**
 * While a link with proactive refresh is active, its run stays open until this time even with nothing due yet, so
 * agents' touches reach it and it can refresh ahead when the token nears expiry.
 */
export function activeUntil({ link, lastTouched }: Pick<ScheduleInput, 'link' | 'lastTouched'>): number | undefined {
  const schedule = link?.schedule;
  if (!link?.hasRefreshToken || !link.expiresAt || !schedule || schedule.refreshAheadSeconds === 0) return undefined;
  return lastTouched + schedule.activeWindowSeconds * 1000;
}

/** Epoch ms from which the link counts as `refresh_expiring`, when its refresh token's expiry is known. */
export function refreshExpiryWarningAt(link: LinkSnapshot | undefined): number | undefined {
  const expiry = link?.hasRefreshToken ? refreshTokenExpiry(link) : undefined;
  if (expiry === undefined || !link?.schedule) return undefined;
  return expiry - link.schedule.refreshTokenWarnSeconds * 1000;
}

function refreshTokenExpiry(link: LinkSnapshot): number | undefined {
  return link.refreshTokenExpiresAt ? Date.parse(link.refreshTokenExpiresAt) : undefined;
}

/** After the nth failed proactive refresh in a row: 30 s, 1 min, 2 min … at most 30 min (agents still refresh on demand). */
export function proactiveRetryDelayMs(failuresInARow: number): number {
  return Math.min(30_000 * 2 ** Math.max(0, failuresInARow - 1), 30 * 60_000);
}

/**
 * The expiry agents are told for the link's current access token (epoch ms), or null when it has none.
 *
 * Where a refresh ends the old access token (GitHub, GitLab), the token lives only until the run's next refresh, so
 * the told expiry is the earliest time the run plans to refresh on its own: `refreshAheadSeconds` before expiry (as
 * if the link were active, which the asking agent makes it), keep-alive, or the retry after a failed refresh. The run
 * in turn exchanges no earlier than this while the provider still accepts the token: the told expiry is a promise.
 * Elsewhere it is the provider's expiry. A pure function of the run's state, so the workflow, its query and replay
 * agree.
 */
export function toldExpiry({ link, retryAt, since }: Omit<ScheduleInput, 'lastTouched' | 'keepAlive'>): number | null {
  if (!link?.expiresAt) return null;
  const expiry = Date.parse(link.expiresAt);
  if (!link.schedule?.refreshEndsOldAccessToken || !link.hasRefreshToken) return expiry;
  const planned = proactiveRefreshDue({ link, lastTouched: Infinity, retryAt, since, keepAlive: true }) ?? Infinity;
  return Math.min(expiry, planned);
}
