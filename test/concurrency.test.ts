import { describe, expect, it } from 'vitest';
import { uniqueUser, useWorld } from './support/world.js';

const world = useWorld({ provider: { latencyMs: 50 } });

describe('serialized requests for one link', () => {
  it('answers a fresh token without any provider call', async () => {
    const user = uniqueUser('fresh');
    const grant = await world.seedLink(user, { expiresInSeconds: 3600 });
    const before = { ...world.provider.stats };
    const token = await world.client.getToken({ provider: world.providerId, user, minValidSeconds: 60 });
    expect(token.accessToken).toBe(grant.accessToken);
    expect(token.username).toBe(grant.accessToken);
    expect(world.provider.stats.tokenCalls).toBe(before.tokenCalls);
    expect(world.provider.stats.validateCalls).toBe(before.validateCalls);
  });

  it('25 concurrent agents on an expired link cause exactly 1 exchange and all get the same token', async () => {
    const user = uniqueUser('herd');
    const seeded = await world.seedLink(user, { expiresInSeconds: -10 });
    const tokens = await Promise.all(
      Array.from({ length: 25 }, () => world.client.getToken({ provider: world.providerId, user, minValidSeconds: 60 })),
    );
    expect(world.provider.stats.tokenCallsByFamily.get(user)).toBe(1);
    const distinct = new Set(tokens.map((t) => t.accessToken));
    expect(distinct.size).toBe(1);
    const [token] = tokens;
    expect(token!.accessToken).not.toBe(seeded.accessToken);
    expect(world.provider.isAccessTokenValid(token!.accessToken)).toBe(true);
    const row = await world.row(user);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
    expect(row.accessToken).toBe(token!.accessToken);
  });

  // A token still within its told expiry is not replaced by a forced refresh while the provider accepts it (GitHub ends
  // the old token at each refresh, and agents hold it): test/told-expiry.test.ts. Past its told expiry, a force rotates.
  it('a forced refresh of a token past its told expiry rotates once and the row follows the provider', async () => {
    const user = uniqueUser('forced');
    await world.seedLink(user, { expiresInSeconds: -5 });
    const status = await world.client.refresh({ provider: world.providerId, user });
    expect(status.state).toBe('ok');
    expect(world.provider.stats.tokenCallsByFamily.get(user)).toBe(1);
    expect((await world.row(user)).refreshToken).toBe(world.provider.liveRefreshToken(user));
  });
});
