// The run's own clock rules: when it refreshes unasked, when it warns, how it backs off. Pure functions.
import { describe, expect, it } from 'vitest';
import type { LinkSnapshot, RefreshSchedule } from '../core/types.js';
import { activeUntil, proactiveRefreshDue, proactiveRetryDelayMs, refreshExpiryWarningAt } from '../workflows/schedule.js';

const T0 = Date.parse('2026-11-29T12:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
const schedule: RefreshSchedule = { refreshAheadSeconds: 300, activeWindowSeconds: 86_400, keepAliveSeconds: 0, refreshTokenWarnSeconds: 7 * 86_400 };

function link(overrides: Partial<LinkSnapshot> = {}): LinkSnapshot {
  return {
    providerType: 'github',
    version: 1,
    accessToken: 'a',
    tokenType: 'bearer',
    expiresAt: at(8 * 3600),
    lifetimeSeconds: 8 * 3600,
    hasRefreshToken: true,
    accessTokenFingerprint: 'f',
    refreshTokenFingerprint: 'g',
    failureReason: '',
    lastRefreshedAt: at(0),
    refreshTokenExpiresAt: null,
    schedule,
    ...overrides,
  };
}
const due = (l: LinkSnapshot | undefined, lastTouched = T0, retryAt?: number, keepAlive = true) => proactiveRefreshDue({ link: l, lastTouched, retryAt, since: T0, keepAlive });

describe('proactiveRefreshDue', () => {
  it('is refreshAheadSeconds before expiry for an active link', () => {
    expect(due(link())).toBe(T0 + (8 * 3600 - 300) * 1000);
  });
  it('caps the margin at half the token lifetime', () => {
    expect(due(link({ expiresAt: at(40), lifetimeSeconds: 40 }))).toBe(T0 + 20_000);
  });
  it('is undefined when the refresh would fall after the active window, with no schedule, no refresh token, or no expiry', () => {
    expect(due(link({ schedule: { ...schedule, activeWindowSeconds: 3600 } }))).toBeUndefined();
    expect(due(link({ schedule: undefined }))).toBeUndefined();
    expect(due(link({ hasRefreshToken: false }))).toBeUndefined();
    expect(due(link({ expiresAt: null }))).toBeUndefined();
    expect(due(link({ schedule: { ...schedule, refreshAheadSeconds: 0 } }))).toBeUndefined();
    expect(due(undefined)).toBeUndefined();
  });
  it('keep-alive: every keepAliveSeconds from the last refresh (or the run start), inactive or not, and before the refresh token expires', () => {
    const idle = { ...schedule, activeWindowSeconds: 60, keepAliveSeconds: 30 * 86_400 };
    expect(due(link({ schedule: idle }), T0 - 86_400_000)).toBe(T0 + 30 * 86_400_000);
    expect(due(link({ schedule: idle, lastRefreshedAt: null }), T0 - 86_400_000)).toBe(T0 + 30 * 86_400_000);
    expect(due(link({ schedule: idle, refreshTokenExpiresAt: at(86_400) }), T0 - 86_400_000)).toBe(T0 + (86_400 - 300) * 1000);
  });
  it("keep-alive left to the sweep (the run's own plan): an idle link plans nothing, an active one still refreshes ahead", () => {
    const idle = { ...schedule, activeWindowSeconds: 60, keepAliveSeconds: 30 * 86_400 };
    expect(due(link({ schedule: idle, refreshTokenExpiresAt: at(86_400) }), T0 - 86_400_000, undefined, false)).toBeUndefined();
    expect(due(link({ schedule: { ...schedule, keepAliveSeconds: 30 * 86_400 } }), T0, undefined, false)).toBe(T0 + (8 * 3600 - 300) * 1000);
  });
  it('not before retryAt after a failure', () => {
    expect(due(link(), T0, T0 + 9 * 3600_000)).toBe(T0 + 9 * 3600_000);
  });
});

describe('activeUntil and refreshExpiryWarningAt', () => {
  it('activeUntil is lastTouched + the window when refresh-ahead applies', () => {
    expect(activeUntil({ link: link(), lastTouched: T0 })).toBe(T0 + 86_400_000);
    expect(activeUntil({ link: link({ schedule: { ...schedule, refreshAheadSeconds: 0 } }), lastTouched: T0 })).toBeUndefined();
  });
  it('warns refreshTokenWarnSeconds before the refresh token expires, only when that expiry is known', () => {
    expect(refreshExpiryWarningAt(link({ refreshTokenExpiresAt: at(30 * 86_400) }))).toBe(T0 + 23 * 86_400_000);
    expect(refreshExpiryWarningAt(link())).toBeUndefined();
    expect(refreshExpiryWarningAt(link({ refreshTokenExpiresAt: at(60), hasRefreshToken: false }))).toBeUndefined();
  });
  it('backs off 30 s, 1 min, 2 min … up to 30 min', () => {
    expect([1, 2, 3, 10].map(proactiveRetryDelayMs)).toEqual([30_000, 60_000, 120_000, 1_800_000]);
  });
});
