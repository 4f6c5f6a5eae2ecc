import { mkdtempSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, runCli } from './support/cli.js';
import { FLAG_FORM_WARNING } from '../cli/commands/link-put.js';
import type { Grant } from '../dev/fake-provider.js';
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
/** The token endpoint's JSON answer, as `link put --tokens-from` reads it. */
const answer = (grant: Grant, fields: Record<string, unknown> = {}) =>
  JSON.stringify({ access_token: grant.accessToken, refresh_token: grant.refreshToken, expires_in: 3600, token_type: 'bearer', ...fields });

describe('extauth CLI', () => {
  it('exits 2 with usage on malformed arguments', async () => {
    for (const args of [[], ['nope'], ['token', '--provider', 'x'], ['token', ...['--provider', 'x', '--user', 'u'], '--min-valid', 'abc'], ['token', '--provider', 'x', '--user', 'u', '--min-valid', '999999999'], ['token', '--bogus']]) {
      const result = await runCli(args, env);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain('usage: extauth');
    }
  });

  it('link put --tokens-from FILE stores a link; token --json answers with token, expiry and git credentials', async () => {
    const user = uniqueUser('cli');
    const grant = world.provider.issueGrant({ familyId: user });
    const answerFile = join(emptyDataDir, `${user}.json`);
    writeFileSync(answerFile, answer(grant), { mode: 0o600 });
    const put = await runCli(['link', 'put', ...link(user), '--tokens-from', answerFile], env);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).not.toContain(grant.accessToken);
    expect(put.stderr).toBe(''); // no warning: nothing secret was on the command line

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

  it('worker refuses to start without a worker key, saying how to make one', async () => {
    const file = join(emptyDataDir, 'providers-ok.json');
    writeFileSync(file, JSON.stringify([{ id: 'gh', type: 'github', clientId: 'x', clientSecret: 'y', tokenUrl: 'https://github.example/token' }]));
    const result = await runCli(['worker'], { ...env, EXTAUTH_PROVIDERS: file });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/EXTAUTH_WORKER_KEY=.*`extauth codec-key`/);
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

describe('no token on the command line', () => {
  it('link put --tokens-from - reads the answer from stdin; extra fields (scope, id_token) are kept; flags override expiry', async () => {
    const user = uniqueUser('stdin');
    const grant = world.provider.issueGrant({ familyId: user });
    const put = await runCli(['link', 'put', ...link(user), '--tokens-from', '-', '--expires-in', '7200', '--json'], env, { stdin: answer(grant, { scope: 'repo', id_token: 'idt-x' }) });
    expect(put.code, put.stderr).toBe(0);
    expect(JSON.parse(put.stdout)).toMatchObject({ stored: true });
    const row = await world.row(user);
    expect(row).toMatchObject({ accessToken: grant.accessToken, refreshToken: grant.refreshToken });
    expect(row.extra).toMatchObject({ scope: 'repo', id_token: 'idt-x', token_type: 'bearer' });
    expect(row.expiry!.getTime()).toBeGreaterThan(Date.now() + 7000 * 1000);
    expect((await world.client.getToken({ provider: world.providerId, user })).accessToken).toBe(grant.accessToken);
  });

  it('a bad token answer is refused naming fields, never echoing a value', async () => {
    const user = uniqueUser('badanswer');
    const secret = `ghr_${'s'.repeat(36)}`;
    for (const [input, message] of [
      [`{"access_token": "${secret}", "refresh_token": `, /not JSON/],
      [JSON.stringify({ access_token: secret, refresh_token: '', expires_in: 3600 }), /refresh_token: Too small/],
      [JSON.stringify({ access_token: secret, refresh_token: secret, expires_in: secret }), /expires_in: Invalid input/],
      [JSON.stringify({ access_token: secret, refresh_token: secret }), /lifetime is unknown: give --expires-in/],
    ] as const) {
      const result = await runCli(['link', 'put', ...link(user), '--tokens-from', '-'], env, { stdin: input });
      expect(result.code, input).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toContain(secret);
    }
  });

  it('the flag form still works and warns, naming the safe form', async () => {
    const user = uniqueUser('flags');
    const grant = world.provider.issueGrant({ familyId: user });
    const put = await runCli(['link', 'put', ...link(user), '--access-token', grant.accessToken, '--refresh-token', grant.refreshToken, '--expires-in', '3600'], env);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stderr).toBe(FLAG_FORM_WARNING);
    expect(put.stderr).toContain('--tokens-from FILE or --tokens-from - (stdin)');
    expect(put.stderr).not.toContain(grant.accessToken);
    expect((await world.row(user)).accessToken).toBe(grant.accessToken);
  });

  it('parse errors never echo an argument value; control: node\'s own message for a stray argument does', async () => {
    const secret = `ghu_${'A1b2'.repeat(9)}`;
    const cases = [
      ['link', 'put', ...link('u'), secret], // a token pasted without its flag
      ['link', 'put', ...link('u'), `--secret=${secret}`], // an unknown option carrying a token
      ['link', 'put', ...link('u'), `--${secret}`], // a token where an option name goes
      ['link', 'put', ...link('u'), '--refresh-token', secret, '--refresh-token', secret], // given twice
      ['token', ...link('u'), '--json=' + secret],
      ['token', ...link('u'), '--min-valid', secret],
    ];
    for (const args of cases) {
      const result = await runCli(args, env);
      expect(result.code, args.slice(3).join(' ').replace(secret, '<secret>')).toBe(2);
      expect(result.stderr).not.toContain(secret);
      expect(result.stderr).not.toContain(secret.slice(4, 20));
    }
    expect((await runCli(cases[1]!, env)).stderr).toContain('unknown option --secret');
    expect((await runCli(cases[3]!, env)).stderr).toContain('--refresh-token is given more than once');
    // The control: the same stray arguments as node's parseArgs reports them would have printed the token.
    const raw = (args: string[]) => {
      try {
        parseArgs({ args, options: { provider: { type: 'string' }, user: { type: 'string' } }, strict: true, allowPositionals: false });
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    };
    expect(raw(['--provider', 'p', secret])).toContain(secret);
    expect(raw(['--provider', 'p', `--${secret}`])).toContain(secret);
  });
});
