// Access tokens that live 20 s: a request must never be served a token with less life left than it asked for,
// including when the run's refresh only validated the stored token again (after a validation that had failed).
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { agentError } from './support/helpers.js';
import { uniqueUser, useWorld } from './support/world.js';

const world = useWorld({ provider: { accessTokenLifetimeSeconds: 20 } });

const tokenCalls = (user: string) => world.provider.stats.tokenCallsByFamily.get(user) ?? 0;
const get = (user: string, minValidSeconds: number) => world.client.getToken({ provider: world.providerId, user, minValidSeconds });

/** An expired link refreshed while every validation fails until the budget is spent: saved, not validated. */
async function saveUnvalidated(user: string) {
  await world.seedLink(user, { expiresInSeconds: -10 });
  world.provider.injectFault('validate', { kind: 'status', status: 502 }, { familyId: user, times: 300 });
  expect((await agentError(get(user, 5))).code).toBe('provider_unavailable');
  expect(tokenCalls(user)).toBe(1);
  world.provider.clearFaults(user);
  return world.row(user);
}

describe('a token validated again after a failed validation', () => {
  it('is exchanged once more when it has less life left than the request asks for', async () => {
    const user = uniqueUser('short');
    const saved = await saveUnvalidated(user);
    // Less than the request's margin left (10 s: at most half the token's life counts), and still more than none.
    await sleep(Math.max(0, saved.expiry!.getTime() - Date.now() - 6_000));
    const minValidSeconds = 10;
    const token = await get(user, minValidSeconds);

    expect(token.accessToken).not.toBe(saved.accessToken);
    expect(tokenCalls(user)).toBe(2);
    expect(world.provider.isAccessTokenValid(token.accessToken)).toBe(true);
    expect(Date.parse(token.expiresAt!) - Date.now()).toBeGreaterThanOrEqual((minValidSeconds - 1) * 1000);
    const row = await world.row(user);
    expect(row.accessToken).toBe(token.accessToken);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
  }, 60_000);

  it('is served as is when it still has the life the request asks for (one exchange in all)', async () => {
    const user = uniqueUser('short-ok');
    const saved = await saveUnvalidated(user);

    const token = await get(user, 2);

    expect(token.accessToken).toBe(saved.accessToken);
    expect(tokenCalls(user)).toBe(1);
  }, 60_000);
});
