import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, runCli } from './support/cli.js';
import { startWorld, uniqueUser, type World } from './support/world.js';

let world: World;
let env: Record<string, string>;
const emptyDataDir = mkdtempSync(join(tmpdir(), 'extauth-cli-'));

beforeAll(async () => {
  world = await startWorld();
  env = cliEnv(world.taskQueue, emptyDataDir);
});
afterAll(async () => {
  expect(world.leakedTokens()).toEqual([]);
  await world.stop();
});

const link = (user: string) => ['--provider', world.providerId, '--user', user];

describe('extauth CLI', () => {
  it('exits 2 with usage on malformed arguments', async () => {
    for (const args of [[], ['nope'], ['token', '--provider', 'x'], ['token', ...['--provider', 'x', '--user', 'u'], '--min-valid', 'abc'], ['token', '--provider', 'x', '--user', 'u', '--min-valid', '999999999'], ['token', '--bogus']]) {
      const result = await runCli(args, env);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain('usage: extauth');
    }
  });

  it('link put stores a link; token --json answers with token, expiry and git credentials', async () => {
    const user = uniqueUser('cli');
    const grant = world.provider.issueGrant({ familyId: user });
    const put = await runCli(['link', 'put', ...link(user), '--access-token', grant.accessToken, '--refresh-token', grant.refreshToken, '--expires-in', '3600'], env);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).not.toContain(grant.accessToken);

    const token = await runCli(['token', ...link(user), '--json'], env);
    expect(token.code, token.stderr).toBe(0);
    const body = JSON.parse(token.stdout);
    expect(body).toMatchObject({ accessToken: grant.accessToken, tokenType: 'bearer', username: grant.accessToken, password: '' });
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now() + 3000 * 1000);

    const plain = await runCli(['token', ...link(user)], env);
    expect(plain.stdout.trim()).toBe(grant.accessToken);
  });

  it('status shows state and 12-hex fingerprints, never a token', async () => {
    const user = uniqueUser('status');
    const grant = await world.seedLink(user, { expiresInSeconds: -5 });
    await world.client.getToken({ provider: world.providerId, user });
    const status = await runCli(['status', ...link(user), '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    const body = JSON.parse(status.stdout);
    expect(body.state).toBe('ok');
    expect(body.accessTokenFingerprint).toMatch(/^[0-9a-f]{12}$/);
    expect(body.refreshTokenFingerprint).toMatch(/^[0-9a-f]{12}$/);
    expect(body.counters.exchanges).toBe(1);
    const human = await runCli(['status', ...link(user)], env);
    for (const output of [status.stdout, human.stdout]) {
      for (const token of world.provider.issuedTokens()) expect(output).not.toContain(token);
    }
    expect(human.stdout).toContain('state       ok');
    void grant;
  });

  it('exits 5 for an unknown link or provider', async () => {
    const unknownUser = await runCli(['token', ...link(uniqueUser('ghost')), '--json'], env);
    expect(unknownUser.code, unknownUser.stdout + unknownUser.stderr).toBe(5);
    expect(JSON.parse(unknownUser.stdout).code).toBe('link_not_found');
    const unknownProvider = await runCli(['token', '--provider', 'no-such-provider', '--user', 'u', '--json'], env);
    expect(unknownProvider.code).toBe(5);
    expect(JSON.parse(unknownProvider.stdout).code).toBe('unknown_provider');
  });

  it('exits 3 with the reason when the link needs re-authentication', async () => {
    const user = uniqueUser('revoked');
    await world.seedLink(user, { expiresInSeconds: -5 });
    world.provider.revokeFamily(user);
    const result = await runCli(['token', ...link(user), '--json'], env);
    expect(result.code).toBe(3);
    const body = JSON.parse(result.stdout);
    expect(body.code).toBe('reauth_required');
    expect(body.reason).toContain('bad_refresh_token');
    const status = await runCli(['status', ...link(user)], env);
    expect(status.code).toBe(3);
    expect(status.stdout).toContain('reauth_required');
  });

  it('a provider error_description of 10 KB full of escape sequences is stored and printed bounded and without control characters', async () => {
    const user = uniqueUser('ansi');
    await world.seedLink(user, { expiresInSeconds: -5 });
    const description = `Bad grant.${'\u001b[31m\u001b[2J\u001b]0;pwned\u0007\u009b1;1H\u202e'.repeat(500)}${'z'.repeat(3_000)}`;
    expect(description.length).toBeGreaterThan(10_000);
    world.provider.injectFault('token', { kind: 'oauth_error', error: 'invalid_grant', description, status: 400 }, { familyId: user, times: 1 });
    const controls = /[\u0000-\u001f\u007f-\u009f\u202e]/;

    const token = await runCli(['token', ...link(user), '--json'], env);
    expect(token.code, token.stderr).toBe(3);
    const { reason } = JSON.parse(token.stdout) as { reason: string };
    // Control: the provider's words do arrive (cleaned), so the bounds below judge real text.
    expect(reason).toContain('invalid_grant: Bad grant.');
    expect(reason).not.toMatch(controls);
    expect(reason.length).toBeLessThan(1_000);
    const stored = (await world.row(user)).failureReason;
    expect(stored).toContain('Bad grant.');
    expect(stored).not.toMatch(controls);
    expect(stored.length).toBeLessThan(1_000);

    for (const args of [['status', ...link(user)], ['status', ...link(user), '--json'], ['token', ...link(user)]]) {
      const printed = await runCli(args, env);
      const text = printed.stdout + printed.stderr;
      expect(text, args.join(' ')).toContain('Bad grant.');
      expect(text.replace(/\n/g, ''), args.join(' ')).not.toMatch(controls);
      expect(text.length, args.join(' ')).toBeLessThan(3_000);
    }
  });

  it('exits 4 when the provider stays unavailable past the retry budget', async () => {
    const user = uniqueUser('down');
    await world.seedLink(user, { expiresInSeconds: -5 });
    // Open the run through the library so that it carries the test's short budgets.
    await world.client.status({ provider: world.providerId, user });
    world.provider.injectFault('token', { kind: 'status', status: 503 }, { familyId: user, times: 1000 });
    const result = await runCli(['token', ...link(user), '--json'], env);
    expect(result.code).toBe(4);
    expect(JSON.parse(result.stdout).code).toBe('provider_unavailable');
    expect((await world.row(user)).refreshToken).toBe(world.provider.liveRefreshToken(user));
  });

  it('exits 1 with a message saying what to set when nothing is configured', async () => {
    const result = await runCli(['token', '--provider', 'p', '--user', 'u'], { EXTAUTH_DATA_DIR: emptyDataDir });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('TEMPORAL_ADDRESS');
  });

  it('worker refuses a broken providers file with a message naming the field', async () => {
    const file = join(emptyDataDir, 'providers.json');
    writeFileSync(file, JSON.stringify([{ id: 'gh', type: 'github', clientId: 'x', clientSecret: 'y', tokenUrl: 'not a url' }]));
    const result = await runCli(['worker'], { ...env, EXTAUTH_PROVIDERS: file });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[0].tokenUrl');
  });
});

describe('operator commands', () => {
  it('links list shows state per link and filters by state and provider', async () => {
    const healthy = uniqueUser('list-ok');
    const dead = uniqueUser('list-dead');
    await world.seedLink(healthy, { expiresInSeconds: -5 });
    await world.seedLink(dead, { expiresInSeconds: -5 });
    world.provider.revokeFamily(dead);
    await world.client.getToken({ provider: world.providerId, user: healthy });
    await expect(world.client.getToken({ provider: world.providerId, user: dead })).rejects.toMatchObject({ code: 'reauth_required' });

    const all = await runCli(['links', 'list', '--provider', world.providerId, '--json'], env);
    expect(all.code, all.stderr).toBe(0);
    const lines = JSON.parse(all.stdout) as { user: string; state: string; failureReason: string }[];
    expect(lines.every((l) => l.user)).toBe(true);
    expect(lines.find((l) => l.user === dead)).toMatchObject({ state: 'reauth_required' });
    expect(lines.find((l) => l.user === healthy)?.state).toMatch(/^(ok|idle)$/);

    const failing = await runCli(['links', 'list', '--provider', world.providerId, '--state', 'reauth_required'], env);
    expect(failing.code).toBe(0);
    expect(failing.stdout).toContain(dead);
    expect(failing.stdout).not.toContain(healthy);
    for (const token of world.provider.issuedTokens()) expect(all.stdout + failing.stdout).not.toContain(token);

    const bad = await runCli(['links', 'list', '--state', 'sleepy'], env);
    expect(bad.code).toBe(2);
  });

  it('link reset ends the open run; the next request rebuilds it from the database', async () => {
    const user = uniqueUser('reset');
    const grant = await world.seedLink(user, { expiresInSeconds: 3600 });
    await world.client.getToken({ provider: world.providerId, user });
    const reset = await runCli(['link', 'reset', ...link(user)], env);
    expect(reset.code, reset.stderr).toBe(0);
    expect(await world.client.peekStatus({ provider: world.providerId, user })).toBeUndefined();
    const again = await world.client.getToken({ provider: world.providerId, user });
    expect(again.accessToken).toBe(grant.accessToken);
    const nothing = await runCli(['link', 'reset', ...link(user + '-none')], env);
    expect(nothing.code).toBe(0);
    expect(nothing.stdout).toContain('nothing to reset');
  });
});
