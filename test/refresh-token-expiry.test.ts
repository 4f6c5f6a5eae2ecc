// The refresh token's own expiry (GitHub's refresh_token_expires_in): stored with every write of the row,
// carried in snapshots and status, named in the reason when an expired refresh token is refused, and
// counted by the extauth_refresh_tokens_expiring gauge within the provider's warning window.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeFailure } from '../activities/record-failure.js';
import type { Grant } from '../dev/fake-provider.js';
import { writeRefreshFailure } from '../store/links.js';
import { cliEnv, runCli } from './support/cli.js';
import { agentError, until } from './support/helpers.js';
import { uniqueUser, useWorld } from './support/world.js';

const DAY = 86_400;
/** Refresh tokens the fake issues on rotation live this long: outside the warning window below. */
const ROTATED_LIFETIME = 30 * DAY;
const WARN_SECONDS = 2 * DAY;

const world = useWorld({
  provider: { refreshTokenLifetimeSeconds: ROTATED_LIFETIME },
  providerConfig: { refreshTokenWarnSeconds: WARN_SECONDS },
});

const tokenCalls = (user: string) => world.provider.stats.tokenCallsByFamily.get(user) ?? 0;
const get = (user: string) => world.client.getToken({ provider: world.providerId, user, minValidSeconds: 60 });
const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000);

/** Stores a grant as the OAuth callback would, with an expired access token and the given refresh-token expiry. */
function seed(user: string, refreshTokenExpiresAt: Date | null, grant?: Grant): Promise<Grant> {
  return world.seedLink(user, { expiresInSeconds: -10, refreshTokenExpiresAt: refreshTokenExpiresAt?.toISOString() ?? null, grant });
}

async function expiringGauge(): Promise<number | undefined> {
  const metric = world.metrics.registry.getSingleMetric('extauth_refresh_tokens_expiring');
  if (!metric) throw new Error('extauth_refresh_tokens_expiring is not registered');
  const { values } = await metric.get();
  return values.find((v) => v.labels.provider === world.providerId)?.value;
}

describe('refresh token expiry: storage', () => {
  it("an exchange stores the provider's refresh_token_expires_in in the row, the snapshot and status", async () => {
    const user = uniqueUser('rx-store');
    await seed(user, null);

    const before = Date.now();
    await get(user);
    const after = Date.now();

    const row = await world.row(user);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
    expect(row.refreshTokenExpiry).toBeInstanceOf(Date);
    expect(row.refreshTokenExpiry!.getTime()).toBeGreaterThanOrEqual(before + ROTATED_LIFETIME * 1000 - 1000);
    expect(row.refreshTokenExpiry!.getTime()).toBeLessThanOrEqual(after + ROTATED_LIFETIME * 1000 + 1000);
    const status = await world.client.status({ provider: world.providerId, user });
    expect(status.refreshTokenExpiresAt).toBe(row.refreshTokenExpiry!.toISOString());
  });

  it('an answer without refresh_token keeps the old refresh token and its expiry', async () => {
    const user = uniqueUser('rx-keep');
    const expiry = new Date(Math.floor(inSeconds(60 * DAY).getTime() / 1000) * 1000);
    const grant = await seed(user, expiry);
    world.provider.injectFault('token', { kind: 'omit_refresh_token' }, { familyId: user, times: 1 });

    const token = await get(user);

    const row = await world.row(user);
    expect(row.accessToken).toBe(token.accessToken);
    expect(row.accessToken).not.toBe(grant.accessToken);
    expect(row.refreshToken).toBe(grant.refreshToken);
    expect(row.refreshTokenExpiry?.toISOString()).toBe(expiry.toISOString());
  });

  it('link put --refresh-expires-in stores it; without the option it stays unknown; a bad value is a usage error', async () => {
    const env = cliEnv(world.taskQueue, mkdtempSync(join(tmpdir(), 'extauth-rx-')));
    const link = (user: string) => ['--provider', world.providerId, '--user', user];
    const put = (user: string, grant: Grant, extra: string[]) =>
      runCli(['link', 'put', ...link(user), '--access-token', grant.accessToken, '--refresh-token', grant.refreshToken, '--expires-in', '3600', ...extra], env);

    const user = uniqueUser('rx-put');
    const before = Date.now();
    const stored = await put(user, world.provider.issueGrant({ familyId: user }), ['--refresh-expires-in', String(5 * DAY)]);
    expect(stored.code, stored.stderr).toBe(0);
    const row = await world.row(user);
    expect(row.refreshTokenExpiry!.getTime()).toBeGreaterThanOrEqual(before + 5 * DAY * 1000 - 1000);
    expect(row.refreshTokenExpiry!.getTime()).toBeLessThanOrEqual(Date.now() + 5 * DAY * 1000 + 1000);

    const status = await runCli(['status', ...link(user), '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).refreshTokenExpiresAt).toBe(row.refreshTokenExpiry!.toISOString());
    const human = await runCli(['status', ...link(user)], env);
    expect(human.stdout).toContain(`refresh exp ${row.refreshTokenExpiry!.toISOString()}`);

    // Re-linking without the option: the new refresh token's expiry is unknown, not the old one's.
    const relinked = await put(user, world.provider.issueGrant({ familyId: user }), []);
    expect(relinked.code, relinked.stderr).toBe(0);
    expect((await world.row(user)).refreshTokenExpiry).toBeNull();

    for (const bad of ['0', 'soon']) {
      const other = uniqueUser('rx-bad');
      const result = await put(other, world.provider.issueGrant({ familyId: other }), ['--refresh-expires-in', bad]);
      expect(result.code, bad).toBe(2);
      expect(result.stderr).toContain('--refresh-expires-in');
      const { rowCount } = await world.pool.query('SELECT 1 FROM external_auth_links WHERE provider_id = $1 AND user_id = $2', [world.providerId, other]);
      expect(rowCount).toBe(0);
    }
  });
});

describe('refresh token expiry: the refusal', () => {
  it('an expired refresh token is refused by the provider: reauth_required, the reason says it expired and when', async () => {
    const user = uniqueUser('rx-expired');
    const grant = world.provider.issueGrant({ familyId: user, refreshTokenLifetimeSeconds: 1 });
    const expiry = new Date(Math.floor(inSeconds(grant.refreshTokenExpiresIn).getTime() / 1000) * 1000);
    await seed(user, expiry, grant);
    await until(() => Date.now() > expiry.getTime() + 1000, 5_000, 'the refresh token to expire at the provider');

    const err = await agentError(get(user));

    expect(err.code).toBe('reauth_required');
    expect(err.reason).toMatch(new RegExp(`^refresh token expired at ${expiry.toISOString()}; `));
    // The provider's own answer is kept in the reason (GitHub's shape, from the fake's expiry check).
    expect(err.reason).toContain('bad_refresh_token: The refresh token passed is incorrect or expired. (HTTP 200)');
    expect(err.reason).toMatch(/the user must re-authenticate/);
    expect(tokenCalls(user)).toBe(1);
    const row = await world.row(user);
    expect(row.failureReason).toBe(err.reason);
    expect(row.refreshToken).toBe('');
  });

  it('a refusal of a refresh token that has not expired keeps the usual reason', async () => {
    const user = uniqueUser('rx-alive');
    await seed(user, inSeconds(30 * DAY));
    world.provider.injectFault(
      'token',
      { kind: 'oauth_error', error: 'bad_refresh_token', description: 'The refresh token passed is incorrect or expired.' },
      { familyId: user, times: 1 },
    );

    const err = await agentError(get(user));

    expect(err.code).toBe('reauth_required');
    expect(err.reason).toMatch(new RegExp(`^refreshing the ${world.providerId} token failed with: bad_refresh_token: `));
    expect(err.reason).not.toMatch(/expired at/);
    expect((await world.row(user)).failureReason).toBe(err.reason);
  });
});

describe('describeFailure', () => {
  const now = new Date('2026-06-01T12:00:00.000Z');
  const at = (offsetSeconds: number) => new Date(now.getTime() + offsetSeconds * 1000);
  const error = 'bad_refresh_token: The refresh token passed is incorrect or expired. (HTTP 200)';
  const describe_ = (refreshTokenExpiry: Date | null, unansweredAt: Date | null = null) => describeFailure('gh', error, { now, refreshTokenExpiry, unansweredAt });

  it('a passed expiry, or one within the 60 s clock skew, leads the reason', () => {
    expect(describe_(at(-3600))).toBe(`refresh token expired at ${at(-3600).toISOString()}; the gh provider answered ${error}; the user must re-authenticate`);
    expect(describe_(at(30))).toMatch(/^refresh token expired at /);
  });

  it('an unknown expiry, or one beyond the skew, keeps the usual reason', () => {
    const usual = `refreshing the gh token failed with: ${error}; the user must re-authenticate`;
    expect(describe_(null)).toBe(usual);
    expect(describe_(at(120))).toBe(usual);
  });

  it('an unanswered earlier request is mentioned when it went out before the expiry (it may have rotated), not after', () => {
    expect(describe_(at(-3600), at(-7200))).toMatch(/^refresh token expired at .*An earlier exchange request was sent at /);
    expect(describe_(at(-3600), at(-60))).not.toMatch(/earlier exchange/);
    expect(describe_(at(3600), at(-60))).toMatch(/^refreshing the gh token failed with: .*An earlier exchange request was sent at /);
  });
});

describe('extauth_refresh_tokens_expiring', () => {
  it("counts links whose refresh token expires within the provider's warning window, not those outside it or refused", async () => {
    const baseline = await expiringGauge();
    expect(baseline).toBeTypeOf('number');
    const soon = uniqueUser('rx-soon');
    const later = uniqueUser('rx-later');
    const unknown = uniqueUser('rx-unknown');
    // 1 day is inside the 2-day window; the default 7 days would count 3 days too.
    await seed(soon, inSeconds(1 * DAY));
    await seed(later, inSeconds(3 * DAY));
    await seed(unknown, null);

    expect(await expiringGauge()).toBe(baseline! + 1);

    // Once the refresh token was refused the link counts as needing re-auth instead.
    const row = await world.row(soon);
    await writeRefreshFailure(world.pool, world.key(soon), row.tokenVersion, 'refused in the test', world.cipher);
    expect(await expiringGauge()).toBe(baseline);
  });
});
