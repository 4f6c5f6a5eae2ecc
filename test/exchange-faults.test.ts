// The token endpoint fails, refuses, rate-limits, keeps the refresh token, or answers too late.
// Whatever happens, the row must end up matching what the provider considers live, or say why not.
import { describe, expect, it } from 'vitest';
import { ExtauthClient } from '../client/index.js';
import { TunedExtauthClient } from '../client/tuned-client.js';
import type { Tuning } from '../workflows/policies.js';
import { agentError } from './support/helpers.js';
import { FAST_TUNING, useWorld, uniqueUser } from './support/world.js';

const world = useWorld();

const tokenCalls = (user: string) => world.provider.stats.tokenCallsByFamily.get(user) ?? 0;
const get = (user: string, client: ExtauthClient = world.client) =>
  client.getToken({ provider: world.providerId, user, minValidSeconds: 60 });
/** A client on the same worker whose runs get other budgets (tuning is part of each run's input). */
const clientWith = (tuning: Partial<Tuning>) =>
  new TunedExtauthClient(world.temporal, { taskQueue: world.taskQueue }, { ...FAST_TUNING, ...tuning });

describe('token endpoint faults', () => {
  it('5xx three times then success: served, the row follows the provider, 4 exchange calls', async () => {
    const user = uniqueUser('x5xx');
    const seeded = await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('token', { kind: 'status', status: 503 }, { familyId: user, times: 3 });

    const token = await get(user);

    expect(token.accessToken).not.toBe(seeded.accessToken);
    const row = await world.row(user);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
    expect(row.refreshToken).not.toBe(seeded.refreshToken);
    expect(row.accessToken).toBe(token.accessToken);
    expect(tokenCalls(user)).toBe(4);
    expect(world.provider.stats.rotations).toBeGreaterThan(0);
  });

  it('429 with Retry-After: 3 waits at least 3 s before retrying (nextRetryDelay honoured), then served', async () => {
    const user = uniqueUser('x429');
    await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('token', { kind: 'rate_limit', retryAfterSeconds: 3 }, { familyId: user, times: 1 });

    const started = Date.now();
    const token = await get(user);
    const elapsed = Date.now() - started;

    // FAST_TUNING backs off 100 ms (the dev server fires retries about 1 s apart at most); only the
    // honoured Retry-After explains 3 s.
    expect(elapsed).toBeGreaterThanOrEqual(3_000);
    expect(tokenCalls(user)).toBe(2);
    const row = await world.row(user);
    expect(row.accessToken).toBe(token.accessToken);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
  });

  it('invalid_grant (HTTP 400) is permanent: reauth_required naming the error, 1 call, refresh token cleared, reason stored', async () => {
    const user = uniqueUser('xgrant');
    await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault(
      'token',
      { kind: 'oauth_error', error: 'invalid_grant', description: 'The grant was revoked', status: 400 },
      { familyId: user, times: 1 },
    );

    const err = await agentError(get(user));

    expect(err.code).toBe('reauth_required');
    expect(err.reason).toMatch(/invalid_grant/);
    expect(err.reason).toMatch(/HTTP 400/);
    // Its own request got an answer: nothing suggests a rotation went astray.
    expect(err.reason).not.toMatch(/earlier exchange/);
    expect(tokenCalls(user)).toBe(1);
    const row = await world.row(user);
    expect(row.refreshToken).toBe('');
    expect(row.failureReason).not.toBe('');
    expect(row.failureReason).toMatch(/invalid_grant/);
  });

  it('after a permanent refusal the next request fails fast with reauth_required and calls nobody', async () => {
    const user = uniqueUser('xfast');
    await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('token', { kind: 'oauth_error', error: 'invalid_grant', status: 400 }, { familyId: user, times: 1 });
    const first = await agentError(get(user));
    expect(first.code).toBe('reauth_required');
    const before = { token: world.provider.stats.tokenCalls, validate: world.provider.stats.validateCalls };

    const started = Date.now();
    const second = await agentError(get(user));

    expect(second.code).toBe('reauth_required');
    expect(second.reason).toBe(first.reason);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(world.provider.stats.tokenCalls).toBe(before.token);
    expect(world.provider.stats.validateCalls).toBe(before.validate);
  });

  it.each([200, 400])('bad_refresh_token answered with HTTP %i is permanent: reauth_required', async (status) => {
    const user = uniqueUser(`xbad${status}`);
    await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('token', { kind: 'oauth_error', error: 'bad_refresh_token', status }, { familyId: user, times: 1 });

    const err = await agentError(get(user));

    expect(err.code).toBe('reauth_required');
    expect(err.reason).toMatch(/bad_refresh_token/);
    expect(err.reason).toMatch(new RegExp(`HTTP ${status}`));
    expect(tokenCalls(user)).toBe(1);
    expect((await world.row(user)).refreshToken).toBe('');
  });

  it('a 503 before a permanent refusal proves nothing rotated: the reason does not suspect a lost rotation', async () => {
    const user = uniqueUser('x503grant');
    await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('token', { kind: 'status', status: 503 }, { familyId: user, times: 1 });
    world.provider.injectFault('token', { kind: 'oauth_error', error: 'invalid_grant', status: 400 }, { familyId: user, times: 1 });

    const err = await agentError(get(user));

    expect(err.code).toBe('reauth_required');
    expect(tokenCalls(user)).toBe(2);
    expect(err.reason).not.toMatch(/earlier exchange/);
    expect((await world.row(user)).exchangeUnansweredAt).toBeNull(); // the dead token's marker goes with it
  });

  it('an answer without refresh_token keeps the old one, which is still live; the new access token is served', async () => {
    const user = uniqueUser('xomit');
    const seeded = await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('token', { kind: 'omit_refresh_token' }, { familyId: user, times: 1 });

    const token = await get(user);

    expect(token.accessToken).not.toBe(seeded.accessToken);
    const row = await world.row(user);
    expect(row.refreshToken).toBe(seeded.refreshToken);
    expect(world.provider.liveRefreshToken(user)).toBe(seeded.refreshToken);
    expect(row.accessToken).toBe(token.accessToken);
    expect(row.failureReason).toBe('');
    expect(tokenCalls(user)).toBe(1);
  });

  it('ambiguous: the first exchange outlives its HTTP deadline and rotates late; the retry presents the dead token -> reauth_required that says so', async () => {
    // Attempt 1500 ms -> HTTP deadline 1200 ms. The hang ends (and the fake rotates) at 1500 ms; the retry
    // backs off 1000 ms, so it surely arrives after the rotation it never heard about.
    const client = clientWith({ exchangeAttemptMs: 1_500, retryInitialMs: 1_000, retryMaxMs: 1_000 });
    const user = uniqueUser('xhang');
    const seeded = await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('token', { kind: 'hang', ms: 1_500 }, { familyId: user, times: 1 });

    const err = await agentError(get(user, client));

    expect(err.code).toBe('reauth_required');
    expect(err.reason).toMatch(/bad_refresh_token/);
    expect(err.reason).toMatch(/earlier exchange request was sent at .* and its answer was never recorded/);
    expect(err.reason).toMatch(/may have rotated/);
    expect(tokenCalls(user)).toBe(2);
    // The provider did rotate, to a refresh token nobody received: the documented provider-side loss.
    const live = world.provider.liveRefreshToken(user);
    expect(live).toBeDefined();
    expect(live).not.toBe(seeded.refreshToken);
    const row = await world.row(user);
    expect(row.refreshToken).toBe('');
    expect(row.failureReason).toBe(err.reason);
  });

  it('exchange budget spent on 503s: provider_unavailable, the stored refresh token unchanged and still live, no failure recorded', async () => {
    const client = clientWith({ exchangeAttemptMs: 1_500, exchangeBudgetMs: 3_000 });
    const user = uniqueUser('xbudget');
    const seeded = await world.seedLink(user, { expiresInSeconds: -10 });
    const before = await world.row(user);
    world.provider.injectFault('token', { kind: 'status', status: 503 }, { familyId: user, times: 1_000 });

    const err = await agentError(get(user, client));

    expect(err.code).toBe('provider_unavailable');
    // The last attempt's failure, not the bare "Activity task timed out" of the spent budget.
    expect(err.reason).toMatch(/token endpoint: HTTP 503/);
    expect(tokenCalls(user)).toBeGreaterThan(1);
    expect(world.provider.stats.tokenCallsByFamily.get(user)).toBeLessThan(1_000);
    const row = await world.row(user);
    expect(row.refreshToken).toBe(seeded.refreshToken);
    expect(world.provider.liveRefreshToken(user)).toBe(seeded.refreshToken);
    expect(row.failureReason).toBe('');
    expect(row.tokenVersion).toBe(before.tokenVersion);
    expect(row.exchangeUnansweredAt).toBeNull();
  });
});
