// `extauth link login`: the real CLI signs a user in at the fake provider (device grant, or browser grant with PKCE
// and a loopback redirect) and stores the link as a re-link does: encrypted, served by getToken, waking waiting agents.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { DeviceCodeRecord } from '../dev/fake-login.js';
import { getLink } from '../store/links.js';
import { cliEnv, killWithFile, runCli, type CliResult } from './support/cli.js';
import { agentError, until } from './support/helpers.js';
import { uniqueUser, useWorld } from './support/world.js';

const world = useWorld({ provider: { login: { deviceIntervalSeconds: 1 } } });
const dataDir = mkdtempSync(join(tmpdir(), 'extauth-login-'));

/** The CLI's environment plus a providers file naming the fake's sign-in endpoints (as the github preset would). */
function env(): Record<string, string> {
  const p = world.provider;
  const file = join(dataDir, `providers-${world.providerId}.json`);
  const entry = { id: world.providerId, type: 'github', clientId: p.clientId, clientSecret: p.clientSecret, tokenUrl: p.tokenUrl, validateUrl: p.validateUrl, authorizeUrl: p.authorizeUrl, deviceAuthorizationUrl: p.deviceAuthorizationUrl };
  writeFileSync(file, JSON.stringify([entry]), { mode: 0o600 });
  return { ...cliEnv(world.taskQueue, dataDir), EXTAUTH_PROVIDERS: file };
}

const link = (user: string) => ['--provider', world.providerId, '--user', user];

/** The device code the running CLI asked for (the only pending one: tests run one at a time). */
async function pendingCode(): Promise<DeviceCodeRecord> {
  await until(() => world.provider.login.pendingDeviceCodes().length === 1, 20_000, 'the CLI asking for a device code');
  return world.provider.login.pendingDeviceCodes()[0]!;
}

const pollsOf = (record: DeviceCodeRecord) => record.polls.map((p) => p.answer);
/** --json output: the prompt line, then the result (a line) or the error (the CLI's usual JSON, several lines). */
function jsonLines(stdout: string): [Record<string, unknown>, Record<string, unknown>] {
  const end = stdout.indexOf('\n');
  return [JSON.parse(stdout.slice(0, end)), JSON.parse(stdout.slice(end + 1))];
}

/** The raw row, as SQL sees it: the token columns must not hold the tokens. */
async function rawRow(user: string) {
  const { rows } = await world.pool.query('SELECT oauth_access_token, oauth_refresh_token, oauth_access_token_key_id FROM external_auth_links WHERE provider_id = $1 AND user_id = $2', [world.providerId, user]);
  return rows[0] as { oauth_access_token: string; oauth_refresh_token: string; oauth_access_token_key_id: string | null } | undefined;
}

describe('link login --device', () => {
  it('polls at the interval, honours slow_down (+5 s), stores the approved tokens encrypted; getToken serves them; --json lines', async () => {
    const user = uniqueUser('device');
    const cli = runCli(['link', 'login', ...link(user), '--device', '--json'], env());
    const code = await pendingCode();
    await until(() => code.polls.length >= 1, 20_000, 'a first poll');
    world.provider.login.demandSlowDown(code.userCode);
    await until(() => code.polls.length >= 2, 20_000, 'the slow_down poll');
    world.provider.login.approveDevice(code.userCode, `${user}-fam`);
    const result = await cli;
    expect(result.code, result.stderr).toBe(0);

    // One slow_down, and the poll after it came no sooner than interval + 5 s: faster ones would have been answered
    // slow_down again by the fake (test/fake-provider.test.ts shows it does).
    expect(pollsOf(code)).toEqual(['authorization_pending', 'slow_down', 'tokens']);
    expect(code.polls[2]!.at - code.polls[1]!.at).toBeGreaterThanOrEqual(5_900);

    const [prompt, stored] = jsonLines(result.stdout);
    expect(prompt).toEqual({ verificationUri: 'https://github.com/login/device', userCode: code.userCode, expiresIn: 899 });
    expect(stored).toMatchObject({ stored: true, tokenVersion: expect.any(Number) });

    const accessToken = world.provider.issuedTokens().find((t) => world.provider.liveAccessTokenFamily(t) === `${user}-fam`)!;
    const refreshToken = world.provider.liveRefreshToken(`${user}-fam`)!;
    const raw = (await rawRow(user))!;
    expect(raw.oauth_access_token_key_id).not.toBeNull();
    expect(raw.oauth_access_token).not.toContain(accessToken);
    expect(raw.oauth_refresh_token).not.toContain(refreshToken);
    expect((await world.client.getToken({ provider: world.providerId, user })).accessToken).toBe(accessToken);
    expect(result.stdout + result.stderr).not.toContain(accessToken);
  }, 60_000);

  it('a denial exits 3 with the provider reason; nothing stored', async () => {
    const user = uniqueUser('denied');
    const cli = runCli(['link', 'login', ...link(user), '--device', '--json'], env());
    const code = await pendingCode();
    world.provider.login.denyDevice(code.userCode);
    const result = await cli;
    expect(result.code, result.stderr).toBe(3);
    const [, error] = jsonLines(result.stdout);
    expect(error).toMatchObject({ error: 'reauth_required', code: 'reauth_required' });
    expect(error!.reason).toMatch(/refused the sign-in \(the user denied the request\): access_denied: The authorization request was denied\./);
    expect(result.stderr).toMatch(/"level":40.*link login failed; nothing stored/);
    expect(await getLink(world.pool, world.key(user), world.cipher)).toBeUndefined();
  }, 30_000);

  it('the provider text in the reason is bounded and stripped of control characters', async () => {
    const user = uniqueUser('escapes');
    const cli = runCli(['link', 'login', ...link(user), '--device', '--json'], env());
    const code = await pendingCode();
    world.provider.injectFault('token', { kind: 'oauth_error', error: 'access_denied', description: `\u001b]0;owned\u0007\u001b[2J${'x'.repeat(10_000)}`, status: 200 });
    const result = await cli;
    expect(result.code, result.stderr).toBe(3);
    const reason = String(jsonLines(result.stdout)[1].reason);
    expect(reason).toMatch(/access_denied: \]0;owned\[2Jx+…$/);
    expect(reason).not.toMatch(/[\u0000-\u001f\u007f]/);
    expect(reason.length).toBeLessThan(500);
    // The fault answered for the provider; its own record of the code is still pending: end it for the next tests.
    world.provider.login.expireDevice(code.userCode);
  }, 30_000);

  it('an expired code exits 3 (expired_token); without --json the reason is on stderr', async () => {
    const user = uniqueUser('expired');
    const cli = runCli(['link', 'login', ...link(user), '--device'], env());
    const code = await pendingCode();
    expect((await until(() => code.polls.length >= 1, 20_000, 'a first poll'), code.polls.length)).toBeGreaterThanOrEqual(1);
    world.provider.login.expireDevice(code.userCode);
    const result = await cli;
    expect(result.code, result.stderr).toBe(3);
    expect(result.stdout).toMatch(/^open https:\/\/github\.com\/login\/device and enter the code [A-Z]{4}-[A-Z]{4}/);
    expect(result.stderr).toMatch(/reauth_required: .*expired_token: The device_code has expired\./);
    expect(await getLink(world.pool, world.key(user), world.cipher)).toBeUndefined();
  }, 30_000);

  it('an agent waiting on a reauth_required link is woken by the device-flow re-link and gets the new token', async () => {
    const user = uniqueUser('wake');
    await world.seedLink(user, { expiresInSeconds: -60 });
    world.provider.revokeFamily(user);
    expect((await agentError(world.client.getToken({ provider: world.providerId, user }))).code).toBe('reauth_required');
    const agent = world.client.getToken({ provider: world.providerId, user, waitSeconds: 120 });
    await until(async () => ((await world.client.peekStatus({ provider: world.providerId, user }))?.waitingForRelink ?? 0) === 1, 20_000, 'the agent waiting');

    const cli = runCli(['link', 'login', ...link(user), '--device'], env());
    world.provider.login.approveDevice((await pendingCode()).userCode, `${user}-relogin`);
    const result = await cli;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/running workflow told to reload/);
    const token = await agent;
    expect(world.provider.liveAccessTokenFamily(token.accessToken)).toBe(`${user}-relogin`);
  }, 60_000);
});

/** Runs the CLI and hands over its first stdout line while it keeps running (the browser flow prints the URL first). */
function startCli(args: string[], environment: Record<string, string>): { firstLine: Promise<string>; done: Promise<CliResult> } {
  const bin = fileURLToPath(new URL('../bin/extauth.js', import.meta.url));
  const child = killWithFile(spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...environment }, stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  let gotLine: (line: string) => void;
  const firstLine = new Promise<string>((resolve) => (gotLine = resolve));
  child.stdout.on('data', (d) => {
    stdout += d;
    if (stdout.includes('\n')) gotLine(stdout.slice(0, stdout.indexOf('\n')));
  });
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      gotLine('');
      resolve({ code, stdout, stderr });
    });
  });
  return { firstLine, done };
}

async function authorizationUrl(firstLine: Promise<string>): Promise<URL> {
  const line = JSON.parse(await firstLine) as { authorizationUrl: string };
  return new URL(line.authorizationUrl);
}

describe('link login --browser', () => {
  it('PKCE S256 and a loopback redirect: the browser (an HTTP client following the redirect) signs in, the link is stored', async () => {
    const user = uniqueUser('browser');
    world.provider.login.setAuthorizeDecision({ approve: true, familyId: `${user}-web` });
    const cli = startCli(['link', 'login', ...link(user), '--browser', '--json', '--timeout', '60s'], env());
    const url = await authorizationUrl(cli.firstLine);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);

    const page = await fetch(url);
    expect([page.status, await page.text()]).toEqual([200, `extauth: signed in to ${world.providerId}; you can close this tab.\n`]);
    const result = await cli.done;
    expect(result.code, result.stderr).toBe(0);
    expect(jsonLines(result.stdout)[1]).toMatchObject({ stored: true });
    const token = await world.client.getToken({ provider: world.providerId, user });
    expect(world.provider.liveAccessTokenFamily(token.accessToken)).toBe(`${user}-web`);
    expect(world.provider.login.stats.pkceRefusals).toBe(0);
    // The listener is gone once the login ended.
    await expect(fetch(url.searchParams.get('redirect_uri')!)).rejects.toThrow();
  }, 60_000);

  it('an answer with another state is refused: exit 3, nothing stored, the code never exchanged', async () => {
    const user = uniqueUser('state');
    world.provider.login.setAuthorizeDecision({ approve: true, familyId: `${user}-web` });
    const cli = startCli(['link', 'login', ...link(user), '--browser', '--json', '--timeout', '60s'], env());
    const url = await authorizationUrl(cli.firstLine);
    const redirect = await fetch(url, { redirect: 'manual' });
    const back = new URL(redirect.headers.get('location')!);
    expect(back.searchParams.get('state')).toBe(url.searchParams.get('state'));
    back.searchParams.set('state', 'forged-state');

    const page = await fetch(back);
    expect(page.status).toBe(400);
    const result = await cli.done;
    expect(result.code, result.stderr).toBe(3);
    expect(jsonLines(result.stdout)[1]!.reason).toMatch(/came back with another state .*nothing stored/);
    expect(await getLink(world.pool, world.key(user), world.cipher)).toBeUndefined();
    // The code was good (the fake issued it): only the state check kept it from being exchanged.
    expect(world.provider.liveRefreshToken(`${user}-web`)).toBeUndefined();
  }, 60_000);

  it('no sign-in within --timeout exits 3 and closes the listener; a missing state is refused like a wrong one', async () => {
    const user = uniqueUser('timeout');
    const waited = startCli(['link', 'login', ...link(user), '--browser', '--json', '--timeout', '2s'], env());
    const url = await authorizationUrl(waited.firstLine);
    const result = await waited.done;
    expect(result.code).toBe(3);
    expect(jsonLines(result.stdout)[1]!.reason).toMatch(/no sign-in within 2 s/);
    await expect(fetch(url.searchParams.get('redirect_uri')!)).rejects.toThrow();

    const stateless = startCli(['link', 'login', ...link(user), '--browser', '--json', '--timeout', '60s'], env());
    const callback = new URL((await authorizationUrl(stateless.firstLine)).searchParams.get('redirect_uri')!);
    callback.searchParams.set('code', 'whatever');
    expect((await fetch(callback)).status).toBe(400);
    const refused = await stateless.done;
    expect(refused.code).toBe(3);
    expect(jsonLines(refused.stdout)[1]!.reason).toMatch(/came back with no state/);
    expect(await getLink(world.pool, world.key(user), world.cipher)).toBeUndefined();
  }, 60_000);

  it('SIGTERM while waiting: the listener stops, exit 1, nothing stored', async () => {
    const user = uniqueUser('sigterm');
    const bin = fileURLToPath(new URL('../bin/extauth.js', import.meta.url));
    const child = killWithFile(spawn(process.execPath, [bin, 'link', 'login', ...link(user), '--browser', '--json'], { env: { PATH: process.env.PATH ?? '', ...env() }, stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    await until(() => stdout.includes('\n'), 20_000, 'the authorization URL');
    const redirectUri = new URL((JSON.parse(stdout.split('\n')[0]!) as { authorizationUrl: string }).authorizationUrl).searchParams.get('redirect_uri')!;
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(1);
    expect(stderr).toMatch(/interrupted: the sign-in was abandoned, nothing stored/);
    await expect(fetch(redirectUri)).rejects.toThrow();
  }, 30_000);
});

describe('link login: bad input', () => {
  it('needs exactly one of --device / --browser (exit 2); an unknown provider exits 5', async () => {
    const both = await runCli(['link', 'login', ...link('u'), '--device', '--browser'], env());
    expect([both.code, both.stderr]).toEqual([2, expect.stringMatching(/give exactly one of --device or --browser/)]);
    const unknown = await runCli(['link', 'login', '--provider', 'nope', '--user', 'u', '--device'], env());
    expect([unknown.code, unknown.stderr]).toEqual([5, expect.stringMatching(/provider nope is not in the providers file/)]);
  });
});
