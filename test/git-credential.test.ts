// `extauth git-credential`: the protocol, host mapping, and real `git clone`s from a local HTTPS git host that only
// accepts the fake provider's live access tokens.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerForHost } from '../cli/git-credential/hosts.js';
import { CredentialProtocolError, formatCredentialAnswer, parseCredentialRequest } from '../cli/git-credential/protocol.js';
import { FakeGitHost, selfSignedCertificate } from '../dev/fake-git-host.js';
import { parseProviders, ProvidersConfigError } from '../providers/config.js';
import { cliEnv } from './support/cli.js';
import { createBareRepo, EXTAUTH_BIN, GIT_CREDENTIAL_EXTAUTH_BIN, isolatedGitEnv, runWithInput } from './support/git.js';
import { startWorld, uniqueUser, type World } from './support/world.js';

const LONG = 240_000; // a loaded 2-core machine: several node processes and a Temporal round trip per git run

const dir = mkdtempSync(join(tmpdir(), 'extauth-git-'));
const home = join(dir, 'home');
const repos = join(dir, 'repos');
const providersFile = join(dir, 'providers.json');
/** Where an installed package's bins are (`npm install -g`, node_modules/.bin): holds `git-credential-extauth`. */
const installedBin = join(dir, 'installed-bin');
let world: World;
let gitHost: FakeGitHost;
let certFile: string;
let commit: string;
/** git's environment, and so the helper's: isolated git, plus what the CLI needs. */
let env: Record<string, string>;

beforeAll(async () => {
  mkdirSync(home);
  mkdirSync(repos);
  mkdirSync(installedBin);
  symlinkSync(GIT_CREDENTIAL_EXTAUTH_BIN, join(installedBin, 'git-credential-extauth')); // as npm links a bin
  const cert = await selfSignedCertificate(dir);
  certFile = cert.certFile;
  commit = await createBareRepo(repos, 'repo', isolatedGitEnv(home));
  gitHost = await FakeGitHost.start({
    projectRoot: repos,
    tls: { cert: readFileSync(cert.certFile, 'utf8'), key: readFileSync(cert.keyFile, 'utf8') },
    // Like GitHub: a live token as username (any password), or GitLab's oauth2 + token.
    authorize: ({ username, password }) =>
      world.provider.liveAccessTokenFamily(username) !== undefined ||
      (username === 'oauth2' && world.provider.liveAccessTokenFamily(password) !== undefined),
  });
  world = await startWorld({ providerConfig: { hosts: [gitHost.host] } });
  const fake = { clientId: 'x', clientSecret: 'y', tokenUrl: world.provider.tokenUrl };
  writeFileSync(
    providersFile,
    JSON.stringify([
      { id: world.providerId, type: 'github', ...fake, clientId: world.provider.clientId, clientSecret: world.provider.clientSecret, hosts: [gitHost.host] },
      { id: 'dup-a', type: 'github', ...fake, hosts: ['dup.example.test'] },
      { id: 'dup-b', type: 'gitlab', ...fake, hosts: ['DUP.example.test'] },
    ]),
  );
  env = { ...isolatedGitEnv(home), ...cliEnv(world.taskQueue, join(dir, 'data')), EXTAUTH_PROVIDERS: providersFile };
}, LONG);

afterAll(async () => {
  expect(world.leakedTokens()).toEqual([]);
  await Promise.allSettled([world.stop(), gitHost.close()]);
});

const helperCommand = (user: string) => `!'${process.execPath}' '${EXTAUTH_BIN}' git-credential --user ${user}`;

/** PATH without any folder holding a `git-credential-extauth` (npx puts node_modules/.bin first), node's kept. */
function pathWithoutInstalledHelper(): string {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d && !existsSync(join(d, 'git-credential-extauth')));
  return [dirname(process.execPath), ...dirs].join(delimiter);
}

/** git's environment with the package's bins installed on PATH, or (`installed: false`) nowhere git can find them. */
const gitEnvWith = ({ installed }: { installed: boolean }) => ({
  ...env,
  PATH: installed ? [installedBin, pathWithoutInstalledHelper()].join(delimiter) : pathWithoutInstalledHelper(),
});

function clone(user: string, helperValue = helperCommand(user), cloneEnv = env) {
  const target = join(dir, `clone-${user}`);
  const args = ['-c', `http.sslCAInfo=${certFile}`, '-c', 'credential.helper=', '-c', `credential.helper=${helperValue}`];
  return { target, result: runWithInput('git', [...args, 'clone', `${gitHost.url}/repo.git`, target], { env: cloneEnv, cwd: dir, timeoutMs: LONG - 10_000 }) };
}

/** The clone has the commit, after exactly one exchange, and the host saw only the fresh access token. */
async function expectClonedWithFreshToken(
  user: string,
  seeded: { accessToken: string; refreshToken: string },
  attemptsBefore: number,
  { target, result }: ReturnType<typeof clone>,
) {
  const { code, stdout, stderr } = await result;
  expect(code, stderr).toBe(0);
  const head = await runWithInput('git', ['-C', target, 'rev-parse', 'HEAD'], { env });
  expect(head.stdout.trim()).toBe(commit);

  const row = await world.row(user);
  expect(row.accessToken).not.toBe(seeded.accessToken);
  expect(row.refreshToken).not.toBe(seeded.refreshToken);
  expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
  expect(world.provider.stats.tokenCallsByFamily.get(user)).toBe(1);
  const attempts = gitHost.attempts.slice(attemptsBefore);
  expect(attempts.length).toBeGreaterThan(0);
  for (const attempt of attempts) {
    expect(attempt.accepted).toBe(true);
    expect(attempt.credentials).toEqual({ username: row.accessToken, password: '' });
  }
  expect(world.provider.liveAccessTokenFamily(row.accessToken)).toBe(user);
  expectNoToken(stdout, stderr);
}

function helper(args: string[], input: string, helperEnv = env) {
  return runWithInput(process.execPath, [EXTAUTH_BIN, 'git-credential', ...args], { env: helperEnv, input, timeoutMs: LONG - 10_000 });
}

function expectNoToken(...outputs: string[]) {
  const text = outputs.join('\n');
  for (const token of world.provider.issuedTokens()) expect(text).not.toContain(token);
}

describe('git clone through the helper', () => {
  it('an expired link: one exchange, the host sees the fresh token, the database keeps the rotated refresh token', async () => {
    const user = uniqueUser('git');
    const seeded = await world.seedLink(user, { expiresInSeconds: -5 });
    const before = gitHost.attempts.length;

    await expectClonedWithFreshToken(user, seeded, before, clone(user));
  }, LONG);

  it('a link needing re-authentication: the clone fails at once with the helper saying so, no token anywhere', async () => {
    const user = uniqueUser('git-revoked');
    await world.seedLink(user, { expiresInSeconds: -5 });
    world.provider.revokeFamily(user);
    const before = gitHost.attempts.length;

    const { result } = clone(user);
    const { code, stdout, stderr } = await result;
    expect(code).not.toBe(0);
    expect(stderr).toContain(`extauth git-credential: the ${world.providerId} link of user ${user} needs re-authentication (`);
    expect(stderr).toContain(`extauth link put --provider ${world.providerId} --user ${user}`);
    expect(stderr).toMatch(/terminal prompts disabled/);
    expect(gitHost.attempts.slice(before)).toEqual([]);
    expectNoToken(stdout, stderr);

    const direct = await helper(['--user', user, 'get'], `protocol=https\nhost=${gitHost.host}\n`);
    expect(direct.code).toBe(3);
    expect(direct.stdout).toBe('');
    expect(direct.stderr.trim().split('\n')).toHaveLength(1);
  }, LONG);
});

describe('credential.helper "extauth …": git runs the installed git-credential-extauth bin', () => {
  // The exact line. git reads a helper not starting with `!` or `/` as `git credential-<first word> <rest>`:
  // `git credential-extauth git-credential --user U get`, an executable git finds in its exec path or on PATH.
  for (const form of ['git-credential --user', '--user']) {
    it(`credential.helper=extauth ${form} U: the clone gets a fresh token`, async () => {
      const user = uniqueUser('git-bin');
      const seeded = await world.seedLink(user, { expiresInSeconds: -5 });
      const before = gitHost.attempts.length;
      await expectClonedWithFreshToken(user, seeded, before, clone(user, `extauth ${form} ${user}`, gitEnvWith({ installed: true })));
    }, LONG);
  }

  it('without the package\'s bins on PATH git cannot find the helper: the clone fails, no exchange, no token sent', async () => {
    const user = uniqueUser('git-nobin');
    await world.seedLink(user, { expiresInSeconds: -5 });
    const before = gitHost.attempts.length;

    const { result } = clone(user, `extauth git-credential --user ${user}`, gitEnvWith({ installed: false }));
    const { code, stdout, stderr } = await result;
    expect(code).not.toBe(0);
    expect(stderr).toContain("'credential-extauth' is not a git command");
    expect(stderr).toMatch(/terminal prompts disabled/);
    expect(gitHost.attempts.slice(before)).toEqual([]);
    expect(world.provider.stats.tokenCallsByFamily.get(user) ?? 0).toBe(0);
    expectNoToken(stdout, stderr);
  }, LONG);
});

describe('the helper command', () => {
  it('get answers a mapped host with username/password lines, whatever order git puts the action in', async () => {
    const user = uniqueUser('git-get');
    const grant = await world.seedLink(user, { expiresInSeconds: 3600 });
    const input = `protocol=https\nhost=${gitHost.host}\npath=repo.git\nwwwauth[]=Basic realm="fake-git-host"\ncapability[]=authtype\n\n`;
    for (const args of [['--user', user, 'get'], ['get', '--user', user]]) {
      const result = await helper(args, input);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout).toMatch(new RegExp(`^username=${grant.accessToken}\npassword=\npassword_expiry_utc=\\d+\n$`));
    }
    expect(world.provider.stats.tokenCallsByFamily.get(user) ?? 0).toBe(0);
  }, LONG);

  it('stays silent (exit 0, no output) for store, unknown actions, unknown hosts and plain http, without contacting Temporal', async () => {
    const user = uniqueUser('git-quiet');
    await world.seedLink(user, { expiresInSeconds: -5 });
    const offline = { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' }; // any connection attempt would fail
    const known = `protocol=https\nhost=${gitHost.host}\nusername=x\npassword=y\n`;
    const cases: [string[], string][] = [
      [['--user', user, 'store'], known],
      [['--user', user, 'frobnicate'], known],
      [['--user', user, 'erase'], `protocol=http\nhost=${gitHost.host}\nusername=x\npassword=y\n`],
      [['--user', user, 'get'], 'protocol=https\nhost=unknown.example.test\n'],
      [['--user', user, 'get'], `protocol=http\nhost=${gitHost.host}\n`],
      [['--user', user, '--provider', world.providerId, 'get'], 'protocol=https\nhost=not-its-host.example.test\n'],
    ];
    const results = await Promise.all(cases.map(([args, input]) => helper(args, input, offline)));
    results.forEach((result, i) => expect({ case: cases[i]![0].join(' '), ...result }).toEqual({ case: cases[i]![0].join(' '), code: 0, stdout: '', stderr: '' }));
    expect(world.provider.stats.tokenCallsByFamily.get(user) ?? 0).toBe(0);
  }, LONG);

  it('erase (git after a 401) reports the token: refused by the provider, it is replaced at once; another credential changes nothing', async () => {
    const user = uniqueUser('git-erase');
    await world.seedLink(user, { expiresInSeconds: 3600 });
    const got = await helper(['--user', user, 'get'], `protocol=https\nhost=${gitHost.host}\n`);
    const token = /^username=(.*)$/m.exec(got.stdout)![1]!;
    // Someone else's credential, or one the provider still accepts: no exchange.
    for (const credentials of ['username=someone\npassword=typed-by-a-person', `username=${token}\npassword=`]) {
      const erased = await helper(['--user', user, 'erase'], `protocol=https\nhost=${gitHost.host}\n${credentials}\n`);
      expect(erased, erased.stderr).toMatchObject({ code: 0, stdout: '' });
    }
    expect(world.provider.stats.tokenCallsByFamily.get(user) ?? 0).toBe(0);
    // The provider ends the token: git's erase of it gets it replaced, and the next get hands out the new one.
    world.provider.revokeAccessToken(token);
    const erased = await helper(['--user', user, 'erase'], `protocol=https\nhost=${gitHost.host}\nusername=${token}\npassword=\n`);
    expect(erased, erased.stderr).toMatchObject({ code: 0, stdout: '' });
    expect(world.provider.stats.tokenCallsByFamily.get(user)).toBe(1);
    const next = await helper(['--user', user, 'get'], `protocol=https\nhost=${gitHost.host}\n`);
    const fresh = /^username=(.*)$/m.exec(next.stdout)![1]!;
    expect(fresh).not.toBe(token);
    expect(world.provider.isAccessTokenValid(fresh)).toBe(true);
    expectNoToken(erased.stdout, erased.stderr, next.stderr);
  }, LONG);

  it('--provider never sends a token to a host the provider does not list: without the providers file to check, git.example.test gets nothing', async () => {
    const user = uniqueUser('git-forced');
    const grant = await world.seedLink(user, { expiresInSeconds: 3600 });
    const { EXTAUTH_PROVIDERS: _, ...noFile } = env;
    const forced = await helper(['--user', user, '--provider', world.providerId, 'get'], 'protocol=https\nhost=git.example.test\n', noFile);
    expect(forced.code).toBe(1);
    expect(forced.stdout).toBe('');
    expect(forced.stderr).toContain('EXTAUTH_PROVIDERS');
    expect(forced.stderr).toContain('EXTAUTH_AGENT_URL');
    // With the file, the forced provider serves its own host (control) and still not git.example.test.
    const listed = await helper(['--user', user, '--provider', world.providerId, 'get'], `protocol=https\nhost=${gitHost.host}\n`);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(`username=${grant.accessToken}\n`);
    const foreign = await helper(['--user', user, '--provider', world.providerId, 'get'], 'protocol=https\nhost=git.example.test\n');
    expect(foreign).toEqual({ code: 0, stdout: '', stderr: '' });
    const unmapped = await helper(['--user', user, 'get'], 'protocol=https\nhost=git.example.test\n', noFile);
    expect(unmapped.code).toBe(1);
    expect(unmapped.stdout).toBe('');
    expect(unmapped.stderr).toContain('EXTAUTH_PROVIDERS');
    expectNoToken(forced.stdout, forced.stderr, foreign.stdout, unmapped.stdout, unmapped.stderr);
  }, LONG);

  it('fails clearly on an ambiguous host, a malformed request and a missing --user', async () => {
    const [ambiguous, malformed, noUser] = await Promise.all([
      helper(['--user', 'u', 'get'], 'protocol=https\nhost=dup.example.test\n'),
      helper(['--user', 'u', 'get'], `protocol=https\nhost ${gitHost.host}\n`),
      helper(['get'], `protocol=https\nhost=${gitHost.host}\n`),
    ]);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toMatch(/dup\.example\.test.*dup-a, dup-b/);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('expected key=value');
    expect(noUser.code).toBe(2);
    expect(noUser.stderr).toContain('--user');
    for (const result of [ambiguous, malformed, noUser]) expect(result.stdout).toBe('');
  }, LONG);
});

describe('protocol and host mapping (pure)', () => {
  it('parses key=value lines up to a blank line, ignoring array and unknown keys', () => {
    expect(parseCredentialRequest('protocol=HTTPS\nhost=Git.Example.test:8443\npath=a/b.git\nwwwauth[]=Basic\nfuture=1\n\nhost=ignored\n')).toEqual({
      protocol: 'https',
      host: 'git.example.test:8443',
      path: 'a/b.git',
      username: undefined,
    });
    expect(parseCredentialRequest('url=https://alice@git.example.test/x.git\n')).toMatchObject({ protocol: 'https', host: 'git.example.test', username: 'alice' });
    expect(parseCredentialRequest('')).toEqual({ protocol: undefined, host: undefined, path: undefined, username: undefined });
    expect(() => parseCredentialRequest('protocol https\n')).toThrow(CredentialProtocolError);
    expect(() => parseCredentialRequest('=x\n')).toThrow(CredentialProtocolError);
  });

  it('formats username and password (empty kept), with the expiry when known; refuses newlines', () => {
    expect(formatCredentialAnswer({ username: 'oauth2', password: 'tok', expiresAt: '2030-01-01T00:00:00Z' })).toBe(
      'username=oauth2\npassword=tok\npassword_expiry_utc=1893456000\n',
    );
    expect(formatCredentialAnswer({ username: 'tok', password: '', expiresAt: null })).toBe('username=tok\npassword=\n');
    expect(() => formatCredentialAnswer({ username: 'a\nb', password: '' })).toThrow(CredentialProtocolError);
  });

  it('maps a host to the one provider listing it, exactly and case-insensitively', () => {
    const base = { clientId: 'x', clientSecret: 'y', tokenUrl: 'https://example.test/token' };
    const providers = parseProviders([
      { id: 'gh', type: 'github', ...base, hosts: ['GitHub.com'] },
      { id: 'gl', type: 'gitlab', ...base, hosts: ['gitlab.example.test:8443'] },
      { id: 'none', type: 'oauth2', ...base },
      { id: 'dup1', type: 'github', ...base, hosts: ['dup.test'] },
      { id: 'dup2', type: 'github', ...base, hosts: ['DUP.test'] },
    ]);
    expect(providerForHost(providers, 'github.com')?.id).toBe('gh');
    expect(providerForHost(providers, 'GITHUB.COM')?.id).toBe('gh');
    expect(providerForHost(providers, 'gitlab.example.test:8443')?.id).toBe('gl');
    expect(providerForHost(providers, 'gitlab.example.test')).toBeUndefined();
    expect(providerForHost(providers, 'github.com:443')).toBeUndefined();
    expect(providerForHost(providers, 'example.test')).toBeUndefined();
    expect(() => providerForHost(providers, 'dup.test')).toThrow(ProvidersConfigError);
  });
});
