// The expiresAt an agent is told is a promise: against a GitHub-faithful fake (a refresh ends the old access token),
// agents hold their tokens and check them at the provider until their told expiry, and none dies before it. Each
// scenario runs a second time under the old rule (refreshEndsOldAccessToken: false: told = the provider's expiry,
// refreshes whenever due or forced) against the same fake, and there the same check finds tokens dying early.
import { describe, expect, it } from 'vitest';
import type { TokenGrant } from '../client/index.js';
import { fingerprint } from '../core/fingerprint.js';
import { until } from './support/helpers.js';
import { uniqueUser, useWorld, type World } from './support/world.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const tokenCalls = (world: World, user: string) => world.provider.stats.tokenCallsByFamily.get(user) ?? 0;

// Proactive refresh: 8 s tokens, refreshed 3 s ahead of expiry.
const LIFETIME = 8;
const ahead = { provider: { accessTokenLifetimeSeconds: LIFETIME }, providerConfig: { refreshAheadSeconds: 3 } };
const proactive = useWorld(ahead);
const proactiveOldRule = useWorld({ ...ahead, providerConfig: { ...ahead.providerConfig, refreshEndsOldAccessToken: false } });
// Forced refreshes and rejections: 10 s tokens, no refresh ahead (only requests and forces refresh).
const FORCED_LIFETIME = 10;
const plain = { provider: { accessTokenLifetimeSeconds: FORCED_LIFETIME } };
const forced = useWorld(plain);
const forcedOldRule = useWorld({ ...plain, providerConfig: { refreshEndsOldAccessToken: false } });

interface Held {
  grant: TokenGrant;
  takenAt: number;
  told: number;
  /** When the provider first refused the token, if it did before the agent stopped checking. */
  diedAt?: number;
}

/** An agent's use of its token: a check at the provider's validation endpoint every 200 ms until `untilMs`. */
async function hold(world: World, grant: TokenGrant, untilMs: number): Promise<number | undefined> {
  while (Date.now() < untilMs) {
    const res = await fetch(world.provider.validateUrl, { headers: { authorization: `Bearer ${grant.accessToken}` } });
    await res.arrayBuffer();
    if (res.status !== 200) return Date.now();
    await sleep(200);
  }
  return undefined;
}

/** A check that ends 150 ms before the told expiry: the agent's last use must still be accepted. */
async function holdUntilTold(world: World, grant: TokenGrant, takenAt = Date.now()): Promise<Held> {
  const told = Date.parse(grant.expiresAt!);
  return { grant, takenAt, told, diedAt: await hold(world, grant, told - 150) };
}

const diedEarly = (held: Held[]) => held.filter((h) => h.diedAt !== undefined);

async function agentsOverTime(world: World, user: string, count: number, everyMs: number): Promise<Held[]> {
  const holds: Promise<Held>[] = [];
  for (let i = 0; i < count; i++) {
    const grant = await world.client.getToken({ provider: world.providerId, user, minValidSeconds: 1 });
    expect(Date.parse(grant.expiresAt!)).toBeGreaterThan(Date.now());
    holds.push(holdUntilTold(world, grant));
    await sleep(everyMs);
  }
  return Promise.all(holds);
}

describe('told expiry with refresh ahead of expiry', () => {
  it('agents taking a token every second for 11 s: none is refused before its told expiry; the old rule loses tokens', async () => {
    const run = async (world: World) => {
      const user = uniqueUser('ahead');
      await world.seedLink(user, { lifetimeSeconds: LIFETIME, expiresInSeconds: LIFETIME });
      const held = await agentsOverTime(world, user, 11, 1_000);
      return { held, refreshes: tokenCalls(world, user) };
    };
    const [faithful, oldRule] = await Promise.all([run(proactive), run(proactiveOldRule)]);

    expect(diedEarly(faithful.held)).toEqual([]);
    // Tokens were refreshed meanwhile, so the agents did hold several generations.
    expect(new Set(faithful.held.map((h) => h.grant.accessToken)).size).toBeGreaterThanOrEqual(2);
    // The told expiry is the planned refresh: 3 s before the provider's expiry.
    for (const h of faithful.held) expect(h.told).toBeLessThanOrEqual(proactive.provider.accessTokenExpiresAt(h.grant.accessToken)! - 2_900);
    // Refreshes do not grow: one per token generation, as under the old rule.
    expect(faithful.refreshes).toBeLessThanOrEqual(oldRule.refreshes + 1);

    // Control: told the provider's expiry, agents hold tokens that the refresh ahead of it ends.
    const early = diedEarly(oldRule.held);
    expect(early.length).toBeGreaterThan(0);
    for (const h of early) expect(h.diedAt!).toBeLessThan(h.told - 1_000);
  }, 60_000);
});

describe('told expiry with forced refreshes', () => {
  it('a forced refresh while an agent holds the token waits for its told expiry; the old rule ends it at once', async () => {
    const run = async (world: World) => {
      const user = uniqueUser('forced');
      await world.seedLink(user, { lifetimeSeconds: FORCED_LIFETIME, expiresInSeconds: FORCED_LIFETIME });
      const grant = await world.client.getToken({ provider: world.providerId, user, minValidSeconds: 1 });
      const holding = holdUntilTold(world, grant);
      const status = await world.client.refresh({ provider: world.providerId, user });
      return { user, grant, status, callsAfterForce: tokenCalls(world, user), held: await holding };
    };
    const [faithful, oldRule] = await Promise.all([run(forced), run(forcedOldRule)]);

    expect(faithful.held.diedAt).toBeUndefined();
    // The force asked the provider whether the token still works (it does), and deferred the exchange to the told expiry.
    expect(faithful.callsAfterForce).toBe(0);
    expect(faithful.status.accessTokenFingerprint).toBe(fingerprint(faithful.grant.accessToken));
    expect(faithful.status.nextProactiveRefreshAt).toBe(faithful.grant.expiresAt);
    await until(() => tokenCalls(forced, faithful.user) === 1, 15_000, 'the deferred refresh');
    const next = await forced.client.getToken({ provider: forced.providerId, user: faithful.user, minValidSeconds: 1 });
    expect(next.accessToken).not.toBe(faithful.grant.accessToken);
    expect(forced.provider.isAccessTokenValid(next.accessToken)).toBe(true);

    // Control: the old rule exchanges at once and the held token dies long before its told expiry.
    expect(oldRule.callsAfterForce).toBe(1);
    expect(oldRule.held.diedAt).toBeDefined();
    expect(oldRule.held.diedAt!).toBeLessThan(oldRule.held.told - 5_000);
  }, 60_000);

  it('a forced refresh of a token the provider already refuses replaces it at once', async () => {
    const user = uniqueUser('forced-dead');
    await forced.seedLink(user, { lifetimeSeconds: FORCED_LIFETIME, expiresInSeconds: FORCED_LIFETIME });
    const grant = await forced.client.getToken({ provider: forced.providerId, user, minValidSeconds: 1 });
    forced.provider.revokeAccessToken(grant.accessToken);
    const status = await forced.client.refresh({ provider: forced.providerId, user });
    expect(tokenCalls(forced, user)).toBe(1);
    expect(status.accessTokenFingerprint).not.toBe(fingerprint(grant.accessToken));
    expect(status.state).toBe('ok');
  });
});

describe('an agent reports a refused token', () => {
  it('the current token, refused: replaced at once and the new one works; without the report the dead token comes back', async () => {
    const user = uniqueUser('rejected');
    await forced.seedLink(user, { lifetimeSeconds: FORCED_LIFETIME, expiresInSeconds: FORCED_LIFETIME });
    const ref = { provider: forced.providerId, user, minValidSeconds: 1 };
    const grant = await forced.client.getToken(ref);
    forced.provider.revokeAccessToken(grant.accessToken);
    expect(await hold(forced, grant, Date.now() + 1_000)).toBeDefined();

    // Control: a plain request is served the dead token again (its told expiry has not passed).
    expect((await forced.client.getToken(ref)).accessToken).toBe(grant.accessToken);
    expect(tokenCalls(forced, user)).toBe(0);

    const replaced = await forced.client.getToken({ ...ref, rejectedFingerprint: fingerprint(grant.accessToken) });
    expect(replaced.accessToken).not.toBe(grant.accessToken);
    expect(tokenCalls(forced, user)).toBe(1);
    expect((await holdUntilTold(forced, replaced, Date.now())).diedAt).toBeUndefined();
  }, 30_000);

  it('ten agents reporting the same refused token cause one exchange and all get the same new token', async () => {
    const user = uniqueUser('rejected-many');
    await forced.seedLink(user, { lifetimeSeconds: FORCED_LIFETIME, expiresInSeconds: FORCED_LIFETIME });
    const grant = await forced.client.getToken({ provider: forced.providerId, user, minValidSeconds: 1 });
    forced.provider.revokeAccessToken(grant.accessToken);
    const rejectedFingerprint = fingerprint(grant.accessToken);
    // Distinct margins: the client would otherwise merge identical calls of one process into one.
    const grants = await Promise.all(
      Array.from({ length: 10 }, (_, i) => forced.client.getToken({ provider: forced.providerId, user, minValidSeconds: i + 1, rejectedFingerprint })),
    );
    expect(new Set(grants.map((g) => g.accessToken)).size).toBe(1);
    expect(grants[0]!.accessToken).not.toBe(grant.accessToken);
    expect(tokenCalls(forced, user)).toBe(1);
    expect(forced.provider.isAccessTokenValid(grants[0]!.accessToken)).toBe(true);
  }, 30_000);

  it('a reported token the provider still accepts stays (no exchange); an older fingerprint gets the current token with no provider call', async () => {
    const user = uniqueUser('rejected-alive');
    await forced.seedLink(user, { lifetimeSeconds: FORCED_LIFETIME, expiresInSeconds: FORCED_LIFETIME });
    const ref = { provider: forced.providerId, user, minValidSeconds: 1 };
    const grant = await forced.client.getToken(ref);
    const validationsBefore = forced.provider.stats.validateCallsByFamily.get(user) ?? 0;
    const same = await forced.client.getToken({ ...ref, rejectedFingerprint: fingerprint(grant.accessToken) });
    expect(same.accessToken).toBe(grant.accessToken);
    expect(tokenCalls(forced, user)).toBe(0);
    expect(forced.provider.stats.validateCallsByFamily.get(user)).toBe(validationsBefore + 1);

    const calls = forced.provider.stats.tokenCalls + forced.provider.stats.validateCalls;
    const current = await forced.client.getToken({ ...ref, rejectedFingerprint: fingerprint('an older token') });
    expect(current.accessToken).toBe(grant.accessToken);
    expect(forced.provider.stats.tokenCalls + forced.provider.stats.validateCalls).toBe(calls);
  });
});
