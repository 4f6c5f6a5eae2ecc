// An agent can wait for the user to re-authenticate: the relinked signal wakes it, no polling loop.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliEnv, runCli } from './support/cli.js';
import { agentError, until } from './support/helpers.js';
import { uniqueUser, useWorld } from './support/world.js';

const world = useWorld();
const dataDir = mkdtempSync(join(tmpdir(), 'extauth-wait-'));

/** A link whose refresh token the provider revoked, already refused once: it needs re-authentication. */
async function revokedLink(label: string): Promise<string> {
  const user = uniqueUser(label);
  await world.seedLink(user, { expiresInSeconds: -60 });
  world.provider.revokeFamily(user);
  const err = await agentError(world.client.getToken({ provider: world.providerId, user }));
  expect(err.code).toBe('reauth_required');
  return user;
}

/** What the OAuth callback does when the user signs in again: a new grant stored, the run told. */
async function relink(user: string) {
  const grant = await world.seedLink(user, { expiresInSeconds: 3_600, grant: world.provider.issueGrant({ familyId: `${user}-relinked` }) });
  expect(await world.client.relinked({ provider: world.providerId, user })).toBe(true);
  return grant;
}

const waiting = async (user: string) => (await world.client.peekStatus({ provider: world.providerId, user }))?.waitingForRelink ?? 0;

describe('waiting for re-authentication', () => {
  it('a waiting agent is woken by the re-link and gets the new token; others waiting share it', async () => {
    const user = await revokedLink('wait');
    const started = Date.now();
    // Different waits, so this client does not merge them into one call: two updates wait in the run.
    const agents = [120, 110].map((waitSeconds) => world.client.getToken({ provider: world.providerId, user, waitSeconds }));
    await until(async () => (await waiting(user)) === 2, 20_000, 'two agents waiting');
    const status = await world.client.peekStatus({ provider: world.providerId, user });
    expect(status?.state).toBe('reauth_required');

    const grant = await relink(user);
    const tokens = await Promise.all(agents);

    expect(tokens.map((t) => t.accessToken)).toEqual([grant.accessToken, grant.accessToken]);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(await waiting(user)).toBe(0);
  });

  it('without a re-link the wait ends after the given time with reauth_required, saying it waited', async () => {
    const user = await revokedLink('timeout');
    const started = Date.now();
    const err = await agentError(world.client.getToken({ provider: world.providerId, user, waitSeconds: 2 }));
    expect(err.code).toBe('reauth_required');
    expect(err.reason).toMatch(/waited 2 s/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
  });

  it('no wait (the default) fails at once, as before', async () => {
    const user = await revokedLink('nowait');
    const started = Date.now();
    const err = await agentError(world.client.getToken({ provider: world.providerId, user }));
    expect(err.code).toBe('reauth_required');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('`extauth token --wait 2m` prints the token once `extauth link put` re-links; a bad duration is a usage error', async () => {
    const user = await revokedLink('cli');
    const env = cliEnv(world.taskQueue, dataDir);
    const link = ['--provider', world.providerId, '--user', user];
    const agent = runCli(['token', ...link, '--wait', '2m'], env);
    await until(async () => (await waiting(user)) === 1, 30_000, 'the CLI agent waiting');

    const grant = world.provider.issueGrant({ familyId: `${user}-cli` });
    const put = await runCli(['link', 'put', ...link, '--access-token', grant.accessToken, '--refresh-token', grant.refreshToken, '--expires-in', '3600'], env);
    expect(put.code, put.stderr).toBe(0);

    const result = await agent;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(grant.accessToken);

    const bad = await runCli(['token', ...link, '--wait', '5 minutes'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--wait: a duration such as 90, 90s, 15m, 1h30m or 2d/);
    const tooLong = await runCli(['token', ...link, '--wait', '2d'], env);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toMatch(/--wait: at most 24h/);
  });
});
