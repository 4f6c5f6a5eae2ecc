// Compare-and-set on token_version: a stale writer never overwrites a newer row, a re-link during an
// exchange wins over the exchange's result, and a re-link clears a recorded failure.
import { WithStartWorkflowOperation } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { toExtauthError } from '../client/errors.js';
import { ExtauthError } from '../client/index.js';
import { linkWorkflowId } from '../core/ids.js';
import type { TokenSet } from '../core/types.js';
import type { Grant } from '../dev/fake-provider.js';
import { putLink, writeRefreshFailure, writeRotatedTokens } from '../store/links.js';
import { getTokenUpdate, MAX_MIN_VALID_SECONDS, type GetTokenRequest } from '../workflows/messages.js';
import { agentError, until } from './support/helpers.js';
import { logLines, uniqueUser, useWorld } from './support/world.js';

const world = useWorld();

/** What a caller that skips ExtauthClient's own checks sends along with its update. */
const rawStart = (user: string) =>
  new WithStartWorkflowOperation('linkWorkflow', {
    workflowId: linkWorkflowId(world.key(user)),
    taskQueue: world.taskQueue,
    args: [{ ...world.key(user) }],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
/** The getToken update sent without ExtauthClient's own checks; its failure, as the client would map it. */
async function rawGetTokenError(user: string, request: GetTokenRequest): Promise<unknown> {
  try {
    await world.temporal.workflow.executeUpdateWithStart(getTokenUpdate, { args: [request], startWorkflowOperation: rawStart(user) });
  } catch (err) {
    return toExtauthError(err);
  }
  throw new Error('the workflow accepted a request it should refuse');
}
const refusals = (user: string) => logLines.filter((line) => line.includes('getToken request refused') && line.includes(user));
const tokenCalls = (user: string) => world.provider.stats.tokenCallsByFamily.get(user) ?? 0;
const get = (user: string, minValidSeconds = 60) => world.client.getToken({ provider: world.providerId, user, minValidSeconds });
const asTokenSet = (grant: Grant): TokenSet => ({
  accessToken: grant.accessToken,
  refreshToken: grant.refreshToken,
  tokenType: 'bearer',
  expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
  extra: { expires_in: grant.expiresIn },
});
/** What the OAuth callback does after the user re-authenticated: store the new grant, tell the run. */
async function relink(user: string, grant: Grant): Promise<boolean> {
  await putLink(world.pool, world.key(user), asTokenSet(grant), world.cipher);
  return world.client.relinked({ provider: world.providerId, user });
}

describe('compare-and-set in the store', () => {
  it('writeRotatedTokens with a stale version writes nothing; with the current version it writes and bumps', async () => {
    const user = uniqueUser('cas-rot');
    await world.seedLink(user);
    await putLink(world.pool, world.key(user), asTokenSet(world.provider.issueGrant({ familyId: user })), world.cipher);
    const current = await world.row(user);
    const rotated = asTokenSet(world.provider.issueGrant({ familyId: user }));

    const stale = await writeRotatedTokens(world.pool, world.key(user), current.tokenVersion - 1, rotated, world.cipher);

    expect(stale).toBeUndefined();
    expect(await world.row(user)).toEqual(current);
    // The same write with the version just read goes through: the refusal above was the version check.
    const fresh = await writeRotatedTokens(world.pool, world.key(user), current.tokenVersion, rotated, world.cipher);
    expect(fresh?.tokenVersion).toBe(current.tokenVersion + 1);
    expect(fresh?.refreshToken).toBe(rotated.refreshToken);
  });

  it('writeRefreshFailure with a stale version writes nothing; with the current version it clears the refresh token', async () => {
    const user = uniqueUser('cas-fail');
    await world.seedLink(user);
    await putLink(world.pool, world.key(user), asTokenSet(world.provider.issueGrant({ familyId: user })), world.cipher);
    const current = await world.row(user);

    const stale = await writeRefreshFailure(world.pool, world.key(user), current.tokenVersion - 1, 'stale writer', world.cipher);

    expect(stale).toBeUndefined();
    expect(await world.row(user)).toEqual(current);
    const fresh = await writeRefreshFailure(world.pool, world.key(user), current.tokenVersion, 'current writer', world.cipher);
    expect(fresh).toMatchObject({ tokenVersion: current.tokenVersion + 1, refreshToken: '', failureReason: 'current writer' });
  });
});

describe('re-link while an exchange is in flight', () => {
  it('same family: the re-link kills the presented token, the late exchange is refused, and the run adopts the re-linked row', async () => {
    const user = uniqueUser('relink-same');
    const seeded = await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('token', { kind: 'hang', ms: 1_000 }, { familyId: user, times: 1 });

    const pending = get(user);
    await until(() => tokenCalls(user) === 1, 10_000, 'the exchange reaching the provider');
    // The user re-authenticates meanwhile: the provider issues a new grant in the same family, which
    // replaces the refresh token the hanging exchange presented.
    const fresh = world.provider.issueGrant({ familyId: user });
    expect(await relink(user, fresh)).toBe(true);
    const token = await pending;

    expect(token.accessToken).toBe(fresh.accessToken);
    const row = await world.row(user);
    expect(row.accessToken).toBe(fresh.accessToken);
    expect(row.refreshToken).toBe(fresh.refreshToken);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
    expect(row.failureReason).toBe('');
    expect(tokenCalls(user)).toBe(1);
    // Seed (1) and re-link (2) wrote the row; the refused exchange wrote nothing.
    expect(row.tokenVersion).toBe(2);
    const status = await world.client.status({ provider: world.providerId, user });
    expect(status.state).toBe('ok');
    expect(status.counters.adoptedFromRow).toBe(1);
    expect(seeded.refreshToken).not.toBe(row.refreshToken);
  });

  it('other family: the exchange succeeds late, persist finds a newer version and adopts the re-linked row instead of overwriting it', async () => {
    const user = uniqueUser('relink-other');
    await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('token', { kind: 'hang', ms: 1_000 }, { familyId: user, times: 1 });
    const rotationsBefore = world.provider.stats.rotations;

    const pending = get(user);
    await until(() => tokenCalls(user) === 1, 10_000, 'the exchange reaching the provider');
    // A re-link that yields a new grant without revoking the old one (a new authorization): the
    // hanging exchange still rotates the old family.
    const fresh = world.provider.issueGrant({ familyId: `${user}-relinked` });
    expect(await relink(user, fresh)).toBe(true);
    const token = await pending;

    expect(world.provider.stats.rotations).toBe(rotationsBefore + 1);
    expect(token.accessToken).toBe(fresh.accessToken);
    const row = await world.row(user);
    expect(row.accessToken).toBe(fresh.accessToken);
    expect(row.refreshToken).toBe(fresh.refreshToken);
    // The exchange's result (the old family's new refresh token) was not written over the re-link.
    expect(row.refreshToken).not.toBe(world.provider.liveRefreshToken(user));
    expect(row.tokenVersion).toBe(2);
    const status = await world.client.status({ provider: world.providerId, user });
    expect(status.counters.adoptedFromRow).toBe(1);
    expect(status.state).toBe('ok');
  });
});

describe('re-link after a permanent failure', () => {
  it('clears the recorded failure: the next request serves the new token, status ok with no failure reason', async () => {
    const user = uniqueUser('relink-heal');
    await world.seedLink(user, { expiresInSeconds: -10 });
    world.provider.injectFault('token', { kind: 'oauth_error', error: 'invalid_grant', status: 400 }, { familyId: user, times: 1 });
    expect((await agentError(get(user))).code).toBe('reauth_required');
    expect((await world.client.status({ provider: world.providerId, user })).state).toBe('reauth_required');

    const fresh = world.provider.issueGrant({ familyId: user });
    expect(await relink(user, fresh)).toBe(true);
    const token = await get(user);

    expect(token.accessToken).toBe(fresh.accessToken);
    expect(tokenCalls(user)).toBe(1);
    const status = await world.client.status({ provider: world.providerId, user });
    expect(status.state).toBe('ok');
    expect(status.failureReason).toBe('');
    expect(status.lastError).toBe('');
    expect((await world.row(user)).failureReason).toBe('');
  });
});

describe('requests the service refuses', () => {
  it('a user without a link: link_not_found', async () => {
    const err = await agentError(get(uniqueUser('nobody')));
    expect(err.code).toBe('link_not_found');
  });

  it('a provider that is not configured: unknown_provider', async () => {
    const err = await agentError(world.client.getToken({ provider: 'no-such-provider', user: uniqueUser('who') }));
    expect(err.code).toBe('unknown_provider');
    expect(err.reason).toMatch(/no-such-provider/);
  });

  it.each([-1, 1e9, Number.NaN])('minValidSeconds %d: invalid_request, as a rejected promise', async (minValidSeconds) => {
    const user = uniqueUser('badmin');
    await world.seedLink(user);
    const err = await agentError(get(user, minValidSeconds));
    expect(err.code).toBe('invalid_request');
    expect(err).toBeInstanceOf(ExtauthError);
  });

  it('the workflow itself refuses a bad minValidSeconds from a caller that skips the client checks', async () => {
    const user = uniqueUser('rawbad');
    await world.seedLink(user);
    const mapped = await rawGetTokenError(user, { minValidSeconds: MAX_MIN_VALID_SECONDS + 1 });
    expect(mapped).toBeInstanceOf(ExtauthError);
    expect((mapped as ExtauthError).code).toBe('invalid_request');
    expect(tokenCalls(user)).toBe(0);
    await until(() => refusals(user).length > 0, 5_000, 'the refusal to be logged'); // the server side's only trace of it
    expect(refusals(user)).toHaveLength(1);
  });

  it('the workflow refuses a request from an agent whose clock is 10 minutes off, saying so, and logs the refusal', async () => {
    const user = uniqueUser('skewed');
    await world.seedLink(user);
    const mapped = (await rawGetTokenError(user, { minValidSeconds: 60, nowMs: Date.now() - 600_000 })) as ExtauthError;
    expect(mapped.code).toBe('invalid_request');
    expect(mapped.reason).toMatch(/clock is -60\d s off the server's .*fix its time synchronisation/);
    expect(tokenCalls(user)).toBe(0);
    await until(() => refusals(user).length > 0, 5_000, 'the refusal to be logged');
    const logged = refusals(user);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('fix its time synchronisation');
  });
});
