// A provider with a refresh-token reuse grace window: an exchange whose answer was lost after the provider rotated
// is replayed inside the window and answered with the same new tokens, instead of tripping reuse detection.
import { describe, expect, it } from 'vitest';
import { graceRetryDelayMs } from '../activities/reuse-grace.js';
import { TunedExtauthClient } from '../client/tuned-client.js';
import { agentError } from './support/helpers.js';
import { FAST_TUNING, uniqueUser, useWorld, type World } from './support/world.js';

describe('graceRetryDelayMs', () => {
  const sent = 1_000_000;
  it('no window, no delay of its own', () => {
    expect(graceRetryDelayMs(0, sent, null, sent + 10)).toBeUndefined();
  });
  it('a short delay, at most a quarter of what is left of the window', () => {
    expect(graceRetryDelayMs(30, sent, null, sent + 10)).toBe(100);
    expect(graceRetryDelayMs(1, sent, null, sent + 800)).toBe(50);
  });
  it('the window has passed: undefined (the declared backoff applies)', () => {
    expect(graceRetryDelayMs(1, sent, null, sent + 999)).toBeUndefined();
    expect(graceRetryDelayMs(1, sent, null, sent + 5_000)).toBeUndefined();
  });
  it('counted from an earlier unanswered send still inside the window, not from this one', () => {
    expect(graceRetryDelayMs(1, sent, new Date(sent - 600), sent + 10)).toBe(97);
    // An earlier send already outside the window does not count.
    expect(graceRetryDelayMs(1, sent, new Date(sent - 5_000), sent + 10)).toBe(100);
  });
});

// The fake accepts a replay for 3 s after it rotated; the configured window is a little shorter. The declared retry
// backoff (5 s) lands outside it, so only the grace-window retry can save the rotation.
const FAKE_GRACE_MS = 3_000;
const BACKOFF = { retryInitialMs: 5_000, retryMaxMs: 5_000, exchangeBudgetMs: 20_000 };

function scenario(world: World) {
  const client = () => new TunedExtauthClient(world.temporal, { taskQueue: world.taskQueue }, { ...FAST_TUNING, ...BACKOFF });
  return async (label: string) => {
    const user = uniqueUser(label);
    const seeded = await world.seedLink(user, { expiresInSeconds: -10 });
    // The provider rotates, then the connection resets before the answer is sent.
    world.provider.injectFault('token', { kind: 'reset_after_rotate' }, { familyId: user, times: 1 });
    const started = Date.now();
    const outcome = await client()
      .getToken({ provider: world.providerId, user, minValidSeconds: 60 })
      .then((token) => ({ token }), (err: unknown) => ({ err }));
    return { user, seeded, outcome, elapsedMs: Date.now() - started };
  };
}

describe('with reuseGraceSeconds', () => {
  const world = useWorld({ provider: { reuseDetection: { graceMs: FAKE_GRACE_MS } }, providerConfig: { reuseGraceSeconds: 2 } });

  it('the lost answer is replayed inside the window: served, the row holds the live refresh token, the family lives', async () => {
    const { user, seeded, outcome, elapsedMs } = await scenario(world)('grace');

    expect(outcome).toHaveProperty('token');
    const { token } = outcome as { token: { accessToken: string } };
    expect(world.provider.stats.graceReplays).toBe(1);
    expect(world.provider.stats.reuseDetections).toBe(0);
    expect(world.provider.stats.trippedFamilies.has(user)).toBe(false);
    expect(world.provider.stats.tokenCallsByFamily.get(user)).toBe(2);
    // No rotation lost: the row holds the refresh token the provider considers live, not the seeded one.
    const row = await world.row(user);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
    expect(row.refreshToken).not.toBe(seeded.refreshToken);
    expect(row.accessToken).toBe(token.accessToken);
    expect(row.failureReason).toBe('');
    expect(row.exchangeUnansweredAt).toBeNull();
    expect(world.provider.isAccessTokenValid(token.accessToken)).toBe(true);
    // The replay did not wait for the declared backoff.
    expect(elapsedMs).toBeLessThan(BACKOFF.retryInitialMs);
  });
});

describe('without reuseGraceSeconds (the same provider and fault)', () => {
  const world = useWorld({ provider: { reuseDetection: { graceMs: FAKE_GRACE_MS } }, providerConfig: { reuseGraceSeconds: 0 } });

  it('the retry waits the declared backoff, lands outside the window and trips reuse detection: reauth_required saying why', async () => {
    const { user, outcome } = await scenario(world)('nograce');

    expect(outcome).toHaveProperty('err');
    const err = await agentError(Promise.reject((outcome as { err: unknown }).err));
    expect(err.code).toBe('reauth_required');
    expect(err.reason).toMatch(/invalid_grant/);
    expect(err.reason).toMatch(/earlier exchange request was sent at .* and its answer was never recorded/);
    expect(world.provider.stats.graceReplays).toBe(0);
    expect(world.provider.stats.trippedFamilies.has(user)).toBe(true);
    expect((await world.row(user)).refreshToken).toBe('');
  });
});
