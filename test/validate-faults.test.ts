// Validation of a freshly exchanged access token fails or stalls: the rotated tokens must already be
// saved, and a later request must only validate again, never exchange again.
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../core/fingerprint.js';
import { agentError } from './support/helpers.js';
import { uniqueUser, useWorld } from './support/world.js';

const world = useWorld();

const tokenCalls = (user: string) => world.provider.stats.tokenCallsByFamily.get(user) ?? 0;
const validateCalls = (user: string) => world.provider.stats.validateCallsByFamily.get(user) ?? 0;
const get = (user: string) => world.client.getToken({ provider: world.providerId, user, minValidSeconds: 60 });

/** Consumes the validate faults still queued for this family by calling the fake directly until it answers 200. */
async function drainValidateFaults(accessToken: string): Promise<number> {
  for (let drained = 0; drained < 10_000; drained++) {
    const res = await fetch(world.provider.validateUrl, { headers: { authorization: `Bearer ${accessToken}` } });
    await res.arrayBuffer();
    if (res.status === 200) return drained;
  }
  throw new Error('validate faults never ran out');
}

describe('validation faults after an exchange', () => {
  it('validate answering 5xx twice: tokens saved, agent served, exactly 1 exchange', async () => {
    const user = uniqueUser('v5xx2');
    const seeded = await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('validate', { kind: 'status', status: 503 }, { familyId: user, times: 2 });

    const token = await get(user);

    expect(token.accessToken).not.toBe(seeded.accessToken);
    expect(world.provider.isAccessTokenValid(token.accessToken)).toBe(true);
    const row = await world.row(user);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
    expect(row.refreshToken).not.toBe(seeded.refreshToken);
    expect(row.accessToken).toBe(token.accessToken);
    expect(tokenCalls(user)).toBe(1);
    expect(validateCalls(user)).toBe(3);
  });

  it('validate 5xx until the budget is spent: provider_unavailable with the rotated tokens saved; the next request validates again without exchanging', async () => {
    const user = uniqueUser('vbudget');
    const seeded = await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('validate', { kind: 'status', status: 502 }, { familyId: user, times: 300 });

    const err = await agentError(get(user));
    expect(err.code).toBe('provider_unavailable');

    const row = await world.row(user);
    const live = world.provider.liveRefreshToken(user);
    expect(live).not.toBe(seeded.refreshToken);
    expect(row.refreshToken).toBe(live);
    expect(row.failureReason).toBe('');
    expect(tokenCalls(user)).toBe(1);
    expect(validateCalls(user)).toBeGreaterThan(1);

    const drained = await drainValidateFaults(row.accessToken);
    expect(drained).toBeGreaterThan(0);
    const validatesBefore = validateCalls(user);

    const token = await get(user);
    expect(token.accessToken).toBe(row.accessToken);
    expect(tokenCalls(user)).toBe(1);
    expect(validateCalls(user)).toBe(validatesBefore + 1);
    expect((await world.row(user)).refreshToken).toBe(live);
  });

  it('validate answering 401 once (replication lag) then 200: served, 1 exchange', async () => {
    const user = uniqueUser('v401');
    await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('validate', { kind: 'validate_401' }, { familyId: user, times: 1 });

    const token = await get(user);

    expect(world.provider.isAccessTokenValid(token.accessToken)).toBe(true);
    expect((await world.row(user)).accessToken).toBe(token.accessToken);
    expect(tokenCalls(user)).toBe(1);
    expect(validateCalls(user)).toBe(2);
  });

  it.each([
    ['403 with Retry-After', { kind: 'validate_403_rate_limited', header: 'retry-after' }],
    ['403 with X-RateLimit-Remaining: 0', { kind: 'validate_403_rate_limited', header: 'x-ratelimit-remaining' }],
    ['429', { kind: 'validate_429' }],
  ] as const)('validate answering %s counts as a valid token: served at once', async (_label, fault) => {
    const user = uniqueUser('vrate');
    await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('validate', fault, { familyId: user, times: 1 });

    const token = await get(user);

    expect((await world.row(user)).accessToken).toBe(token.accessToken);
    expect(tokenCalls(user)).toBe(1);
    expect(validateCalls(user)).toBe(1);
    const status = await world.client.status({ provider: world.providerId, user });
    expect(status.state).toBe('ok');
  });

  it('a bare 403 rejects the new token: provider_unavailable, and the next request exchanges again', async () => {
    const user = uniqueUser('v403');
    await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('validate', { kind: 'validate_403' }, { familyId: user, times: 1 });

    const err = await agentError(get(user));
    expect(err.code).toBe('provider_unavailable');
    expect(err.reason).toMatch(/rejected/);
    expect(tokenCalls(user)).toBe(1);
    expect((await world.row(user)).refreshToken).toBe(world.provider.liveRefreshToken(user));

    const token = await get(user);
    expect(tokenCalls(user)).toBe(2);
    expect((await world.row(user)).accessToken).toBe(token.accessToken);
  });

  it('status after a degraded validation: state degraded, 12-hex fingerprints, never a token', async () => {
    const user = uniqueUser('vstatus');
    await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('validate', { kind: 'status', status: 500 }, { familyId: user, times: 300 });
    expect((await agentError(get(user))).code).toBe('provider_unavailable');

    const status = await world.client.status({ provider: world.providerId, user });

    expect(status.state).toBe('degraded');
    expect(status.validation).toBe('unvalidated');
    expect(status.lastError).not.toBe('');
    expect(status.accessTokenFingerprint).toMatch(/^[0-9a-f]{12}$/);
    expect(status.refreshTokenFingerprint).toMatch(/^[0-9a-f]{12}$/);
    const row = await world.row(user);
    expect(status.accessTokenFingerprint).toBe(fingerprint(row.accessToken));
    expect(status.refreshTokenFingerprint).toBe(fingerprint(row.refreshToken));
    const text = JSON.stringify(status);
    const issued = world.provider.issuedTokens();
    expect(issued.length).toBeGreaterThan(0);
    expect(issued.filter((t) => text.includes(t))).toEqual([]);
    // The same holds for the query served by the open run.
    const peeked = JSON.stringify(await world.client.peekStatus({ provider: world.providerId, user }));
    expect(issued.filter((t) => peeked.includes(t))).toEqual([]);
  });
});
