// Agent access with scoped keys (docs/agent-api.md): an agent key gets the token of its own link and nothing else,
// revoked, expired and unknown keys get nothing, N agents of a link still cause one exchange, every token handed out
// is audited, the agent-mode CLI needs only the endpoint's URL and a key, and the git helper never hands a token to a
// host its provider does not list. Real Temporal and Postgres; the fake provider counts exchanges.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listenAgentEndpoint, type RunningAgentEndpoint } from '../agent-api/listen.js';
import { createAgentRequestCounter } from '../agent-api/metrics.js';
import { AgentClient } from '../client/agent-client.js';
import { createLogger } from '../config/logger.js';
import { fingerprint } from '../core/fingerprint.js';
import { linkWorkflowId } from '../core/ids.js';
import { createAgentKey } from '../store/agent-keys.js';
import { cliEnv, runCli } from './support/cli.js';
import { EXTAUTH_BIN, runWithInput } from './support/git.js';
import { agentError } from './support/helpers.js';
import { logLines, startWorld, uniqueUser, type World } from './support/world.js';

const LONG = 120_000;
const GIT_HOST = 'git.allowed.test';
const FOREIGN_HOST = 'git.foreign.test';

/** Every line the endpoint logged (also in the world's logLines, which the leak check searches). */
const endpointLines: string[] = [];
const endpointLogger = createLogger({ write: (line: string) => void (endpointLines.push(line), logLines.push(line)) }, 'debug');

const dir = mkdtempSync(join(tmpdir(), 'extauth-agents-'));
/** A folder with no .extauth/: the agent-mode CLI runs here. */
const bareCwd = join(dir, 'bare');
let world: World;
let endpoint: RunningAgentEndpoint;
/** The same world behind an endpoint whose provider lists no git hosts (as the google and oauth2 presets). */
let hostlessEndpoint: RunningAgentEndpoint;

beforeAll(async () => {
  mkdirSync(bareCwd);
  world = await startWorld();
  const deps = { pool: world.pool, client: world.client, logger: endpointLogger, requests: createAgentRequestCounter(world.metrics.registry) };
  endpoint = await listenAgentEndpoint({ ...deps, providers: [{ id: world.providerId, type: 'github', hosts: [GIT_HOST] }] }, { port: 0, host: '127.0.0.1' });
  hostlessEndpoint = await listenAgentEndpoint({ ...deps, providers: [{ id: world.providerId, type: 'oauth2', hosts: undefined }] }, { port: 0, host: '127.0.0.1' });
}, LONG);

afterAll(async () => {
  expect(world.leakedTokens()).toEqual([]);
  await Promise.allSettled([endpoint?.close(), hostlessEndpoint?.close()]);
  await world.stop();
});

const keyFor = async (user: string, opts: { name?: string; ttlSeconds?: number } = {}) =>
  createAgentKey(world.pool, { providerId: world.providerId, userId: user, ...opts });

/** Exactly the environment an agent has: PATH, HOME, the endpoint's URL and its key. */
const agentEnv = (key: string, url = endpoint.url) => ({ PATH: process.env.PATH ?? '', HOME: dir, EXTAUTH_AGENT_URL: url, EXTAUTH_AGENT_KEY: key });

/** The CLI as an agent runs it: only `env`, in a folder without .extauth/. */
const agentCli = (args: string[], env: Record<string, string>, input?: string) =>
  runWithInput(process.execPath, [EXTAUTH_BIN, ...args], { env, cwd: bareCwd, input, timeoutMs: LONG - 10_000 });

/** Tokens the fake provider issued that appear in the texts. */
const tokensIn = (...texts: string[]) => world.provider.issuedTokens().filter((t) => texts.some((text) => text.includes(t)));

const postToken = (body: unknown, key?: string, url = endpoint.url) =>
  request(`${url}/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));

async function linkRunExists(user: string): Promise<boolean> {
  try {
    await world.temporal.workflow.getHandle(linkWorkflowId(world.key(user))).describe();
    return true;
  } catch {
    return false;
  }
}

describe("another user's agent", () => {
  it("alice's key cannot get bob's token by CLI: exit 6, forbidden, no token, bob's link untouched; bob's own key can (control)", async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    await world.seedLink(alice);
    await world.seedLink(bob, { expiresInSeconds: -5 });
    const aliceKey = await keyFor(alice);
    const bobKey = await keyFor(bob);

    const refused = await agentCli(['token', '--provider', world.providerId, '--user', bob, '--json'], agentEnv(aliceKey.key));
    expect(refused.code).toBe(6);
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: 'forbidden' });
    expect(tokensIn(refused.stdout, refused.stderr)).toEqual([]);
    expect(world.provider.stats.tokenCallsByFamily.get(bob) ?? 0).toBe(0);
    expect(await linkRunExists(bob)).toBe(false);

    // Control: the same command with bob's key gets bob's token, and the same check finds it in the output.
    const served = await agentCli(['token', '--provider', world.providerId, '--user', bob, '--json'], agentEnv(bobKey.key));
    expect(served.code, served.stderr).toBe(0);
    expect(tokensIn(served.stdout, served.stderr)).toEqual([JSON.parse(served.stdout).accessToken]);
    expect(world.provider.stats.tokenCallsByFamily.get(bob)).toBe(1);
  }, LONG);

  it("alice's key cannot get bob's token by raw HTTP: 403 forbidden, no token; a link that does not exist is refused the same way", async () => {
    const alice = uniqueUser('alice');
    const bob = uniqueUser('bob');
    await world.seedLink(alice);
    await world.seedLink(bob);
    const aliceKey = await keyFor(alice);

    for (const user of [bob, uniqueUser('nobody')]) {
      const answer = await postToken({ provider: world.providerId, user }, aliceKey.key);
      expect(answer.status).toBe(403);
      expect(JSON.parse(answer.text)).toEqual({ error: 'forbidden', reason: `agent key ${aliceKey.info.id} is not scoped to this link` });
      expect(tokensIn(answer.text)).toEqual([]);
    }
    const otherProvider = await postToken({ provider: 'other-provider', user: alice }, aliceKey.key);
    expect(otherProvider.status).toBe(403);

    // Control: alice's own link answers 200 with her token.
    const own = await postToken({ provider: world.providerId, user: alice }, aliceKey.key);
    expect(own.status).toBe(200);
    expect(tokensIn(own.text)).toHaveLength(1);
  }, LONG);
});

describe('revoked, expired and unknown keys', () => {
  it('a revoked key is refused (CLI exit 6, HTTP 403) after it worked; revoking an unknown id exits 5', async () => {
    const user = uniqueUser('revoked');
    await world.seedLink(user);
    const env = cliEnv(world.taskQueue, join(dir, 'data'));
    const created = await runCli(['agent-key', 'create', '--provider', world.providerId, '--user', user, '--name', 'ci', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const issued = JSON.parse(created.stdout);
    expect(Object.keys(issued)).toEqual(['key', 'id', 'provider', 'user', 'expiresAt']);
    expect(issued).toMatchObject({ provider: world.providerId, user, expiresAt: null });
    expect(issued.key).toMatch(new RegExp(`^eak_${issued.id}_[A-Za-z0-9_-]{43}$`));

    const args = ['token', '--provider', world.providerId, '--user', user, '--json'];
    const before = await agentCli(args, agentEnv(issued.key));
    expect(before.code, before.stderr).toBe(0); // control: the key works until it is revoked

    const revoked = await runCli(['agent-key', 'revoke', issued.id], env);
    expect(revoked.code, revoked.stderr).toBe(0);
    const after = await agentCli(args, agentEnv(issued.key));
    expect(after.code).toBe(6);
    expect(JSON.parse(after.stdout)).toMatchObject({ error: 'forbidden', reason: expect.stringContaining('revoked') });
    expect(tokensIn(after.stdout, after.stderr)).toEqual([]);
    expect((await postToken({ provider: world.providerId, user }, issued.key)).status).toBe(403);

    const listed = await runCli(['agent-key', 'list', '--provider', world.providerId, '--user', user, '--json'], env);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ id: issued.id, name: 'ci', state: 'revoked' })]);
    expect(listed.stdout).not.toContain(issued.key.split('_')[2]);

    const unknown = await runCli(['agent-key', 'revoke', 'nosuchkey0'], env);
    expect(unknown.code).toBe(5);
    expect(unknown.stderr).toContain('no agent key with id "nosuchkey0"');
  }, LONG);

  it('an expired key is refused like a revoked one; before it expired it worked (control)', async () => {
    const user = uniqueUser('expired');
    await world.seedLink(user);
    const env = cliEnv(world.taskQueue, join(dir, 'data'));
    const created = await runCli(['agent-key', 'create', '--provider', world.providerId, '--user', user, '--ttl', '3s', '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const issued = JSON.parse(created.stdout);
    expect(Date.parse(issued.expiresAt)).toBeGreaterThan(Date.now() - 1_000);

    expect((await postToken({ provider: world.providerId, user }, issued.key)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(issued.expiresAt) - Date.now()) + 500));
    const after = await agentCli(['token', '--provider', world.providerId, '--user', user, '--json'], agentEnv(issued.key));
    expect(after.code).toBe(6);
    expect(JSON.parse(after.stdout)).toMatchObject({ error: 'forbidden', reason: expect.stringContaining('expired') });
    expect(tokensIn(after.stdout, after.stderr)).toEqual([]);
  }, LONG);

  it('unknown, malformed and missing keys are refused; the refusal log names the key id (or none), never the key', async () => {
    const user = uniqueUser('unknown');
    await world.seedLink(user);
    const real = await keyFor(user);
    // Same id, another secret: the hash lookup finds nothing.
    const forged = `eak_${real.info.id}_${'A'.repeat(43)}`;
    const malformed = 'not-a-key-but-a-secret-all-the-same';
    const linesBefore = endpointLines.length;

    const byForged = await postToken({ provider: world.providerId, user }, forged);
    expect(byForged.status).toBe(403);
    expect(JSON.parse(byForged.text)).toMatchObject({ error: 'forbidden', reason: 'the agent key is unknown' });
    const byMalformed = await postToken({ provider: world.providerId, user }, malformed);
    expect(byMalformed.status).toBe(403);
    const without = await postToken({ provider: world.providerId, user });
    expect(without.status).toBe(401);
    expect(JSON.parse(without.text)).toMatchObject({ error: 'forbidden' });
    const cli = await agentCli(['token', '--provider', world.providerId, '--user', user], agentEnv(forged));
    expect(cli.code).toBe(6);
    expect(cli.stderr).toContain('forbidden: the agent key is unknown');

    const refusals = endpointLines.slice(linesBefore).map((l) => JSON.parse(l)).filter((l) => l.msg === 'agent request refused');
    expect(refusals.map((l) => [l.keyId, l.cause, l.level])).toEqual([
      [real.info.id, 'key unknown', 40],
      ['none', 'key unparsable', 40],
      ['none', 'no bearer key', 40],
      [real.info.id, 'key unknown', 40],
    ]);
    expect(refusals.every((l) => l.provider === world.providerId && l.user === user)).toBe(true);
    const secrets = [forged, forged.split('_')[2]!, malformed, real.key, real.key.split('_')[2]!];
    const leaking = (lines: string[]) => lines.filter((line) => secrets.some((s) => line.includes(s)));
    expect(leaking(endpointLines)).toEqual([]);
    // Control: the same search finds a key in a line that carries one.
    expect(leaking([JSON.stringify({ msg: 'agent request refused', header: `Bearer ${forged}` })])).toHaveLength(1);
  }, LONG);
});

describe('through the endpoint', () => {
  it('N concurrent agents on one expired link cause exactly one exchange and all get the same token; a second expiry is a second exchange (control)', async () => {
    const user = uniqueUser('herd');
    const seeded = await world.seedLink(user, { expiresInSeconds: -5 });
    const keys = await Promise.all(Array.from({ length: 4 }, (_, i) => keyFor(user, { name: `agent-${i}` })));
    const agents = keys.flatMap(({ key }) => [new AgentClient({ url: endpoint.url, key }), new AgentClient({ url: endpoint.url, key })]);

    const grants = await Promise.all(agents.map((a) => a.getToken({ provider: world.providerId, user })));
    expect(world.provider.stats.tokenCallsByFamily.get(user)).toBe(1);
    expect(new Set(grants.map((g) => g.accessToken)).size).toBe(1);
    expect(grants[0]!.accessToken).not.toBe(seeded.accessToken);

    await world.seedLink(user, { expiresInSeconds: -5, grant: world.provider.issueGrant({ familyId: user }) });
    await world.client.relinked({ provider: world.providerId, user });
    await Promise.all(agents.map((a) => a.getToken({ provider: world.providerId, user })));
    expect(world.provider.stats.tokenCallsByFamily.get(user)).toBe(2);
  }, LONG);

  it('an agent reports a refused token through the endpoint: replaced at once, one exchange for three reports; no report gets the dead token back (control)', async () => {
    const user = uniqueUser('rejected');
    await world.seedLink(user, { expiresInSeconds: 3600 });
    const { key } = await keyFor(user);
    const agent = new AgentClient({ url: endpoint.url, key });
    const held = await agent.getToken({ provider: world.providerId, user });
    world.provider.revokeAccessToken(held.accessToken);

    const unreported = await agent.getToken({ provider: world.providerId, user });
    expect(unreported.accessToken).toBe(held.accessToken);
    expect(world.provider.stats.tokenCallsByFamily.get(user) ?? 0).toBe(0);

    const rejectedFingerprint = fingerprint(held.accessToken);
    const reports = await Promise.all([1, 2, 3].map(() => agent.getToken({ provider: world.providerId, user, rejectedFingerprint })));
    expect(world.provider.stats.tokenCallsByFamily.get(user)).toBe(1);
    expect(new Set(reports.map((g) => g.accessToken)).size).toBe(1);
    expect(reports[0]!.accessToken).not.toBe(held.accessToken);
    expect(world.provider.isAccessTokenValid(reports[0]!.accessToken)).toBe(true);

    const bad = await postToken({ provider: world.providerId, user, rejectedFingerprint: 'not-a-fingerprint' }, key);
    expect(bad.status).toBe(400);
  }, LONG);

  it('the audit lists every token handed out with key id, name and fingerprint, and the refusals of the link', async () => {
    const user = uniqueUser('audited');
    const intruder = uniqueUser('intruder');
    await world.seedLink(user);
    await world.seedLink(intruder);
    const own = await keyFor(user, { name: 'workspace-7' });
    const foreign = await keyFor(intruder, { name: 'intruder-agent' });
    const grant = await new AgentClient({ url: endpoint.url, key: own.key }).getToken({ provider: world.providerId, user });
    await new AgentClient({ url: endpoint.url, key: own.key }).getToken({ provider: world.providerId, user });
    await agentError(new AgentClient({ url: endpoint.url, key: foreign.key }).getToken({ provider: world.providerId, user }));

    const audit = await runCli(['audit', '--provider', world.providerId, '--user', user, '--since', '10m', '--json'], cliEnv(world.taskQueue, join(dir, 'data')));
    expect(audit.code, audit.stderr).toBe(0);
    const entries = JSON.parse(audit.stdout) as Record<string, unknown>[];
    const served = { keyId: own.info.id, keyName: 'workspace-7', provider: world.providerId, user, tokenFingerprint: fingerprint(grant.accessToken), outcome: 'served' };
    expect(entries).toEqual([
      { servedAt: expect.any(String), keyId: foreign.info.id, keyName: 'intruder-agent', provider: world.providerId, user, tokenFingerprint: null, outcome: 'forbidden' },
      { servedAt: expect.any(String), ...served },
      { servedAt: expect.any(String), ...served },
    ]);
    expect(tokensIn(audit.stdout)).toEqual([]);
    // Control: the audit is per link: the intruder's own link has no entry.
    const other = await runCli(['audit', '--provider', world.providerId, '--user', intruder, '--json'], cliEnv(world.taskQueue, join(dir, 'data')));
    expect(JSON.parse(other.stdout)).toEqual([]);

    const metrics = await world.metrics.registry.getSingleMetricAsString('extauth_agent_requests_total');
    expect(metrics).toMatch(/extauth_agent_requests_total\{outcome="served"\} [1-9]/);
    expect(metrics).toMatch(/extauth_agent_requests_total\{outcome="forbidden"\} [1-9]/);
  }, LONG);

  it('the other exit codes keep their meaning: 3 re-authentication, 4 provider unavailable, 5 unknown link, 2 bad input', async () => {
    const revoked = uniqueUser('reauth');
    await world.seedLink(revoked, { expiresInSeconds: -5 });
    world.provider.revokeFamily(revoked);
    const missing = uniqueUser('missing');
    const down = uniqueUser('down');
    await world.seedLink(down, { expiresInSeconds: -5 });
    world.provider.injectFault('token', { kind: 'status', status: 503 }, { familyId: down, times: 1_000 });
    const [reauthKey, missingKey, downKey] = await Promise.all([keyFor(revoked), keyFor(missing), keyFor(down)]);
    const token = (user: string, key: string, extra: string[] = []) =>
      agentCli(['token', '--provider', world.providerId, '--user', user, '--json', ...extra], agentEnv(key));

    const [reauth, unknown, unavailable] = await Promise.all([token(revoked, reauthKey.key), token(missing, missingKey.key), token(down, downKey.key)]);
    expect([reauth.code, JSON.parse(reauth.stdout).error]).toEqual([3, 'reauth_required']);
    expect([unknown.code, JSON.parse(unknown.stdout).error]).toEqual([5, 'link_not_found']);
    expect([unavailable.code, JSON.parse(unavailable.stdout).error]).toEqual([4, 'provider_unavailable']);
    world.provider.clearFaults(down);

    const bad = await postToken({ provider: world.providerId, user: revoked, minValidSeconds: -1 }, reauthKey.key);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toMatchObject({ error: 'invalid_request' });
    const huge = await postToken({ provider: world.providerId, user: revoked, pad: 'x'.repeat(17 * 1024) }, reauthKey.key);
    expect(huge.status).toBe(413);
    const health = await request(`${endpoint.url}/healthz`);
    expect([health.statusCode, await health.body.json()]).toEqual([200, { ok: true }]);
  }, LONG);
});

describe('agent-mode CLI', () => {
  it('works with only PATH, HOME, EXTAUTH_AGENT_URL and EXTAUTH_AGENT_KEY in a folder without .extauth/; without them the same env has nothing (control)', async () => {
    const user = uniqueUser('bare');
    const grant = await world.seedLink(user);
    const { key } = await keyFor(user);
    const env = agentEnv(key);
    expect(Object.keys(env).sort()).toEqual(['EXTAUTH_AGENT_KEY', 'EXTAUTH_AGENT_URL', 'HOME', 'PATH']);

    const plain = await agentCli(['token', '--provider', world.providerId, '--user', user], env);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toBe(`${grant.accessToken}\n`);

    const { EXTAUTH_AGENT_URL: _u, EXTAUTH_AGENT_KEY: _k, ...nothing } = env;
    const direct = await agentCli(['token', '--provider', world.providerId, '--user', user], nothing);
    expect(direct.code).toBe(1);
    expect(direct.stderr).toContain('no Temporal server');

    // A folder whose .extauth/dev.json would break any command that read it: no command reads it. Agent mode is served;
    // direct mode with the same bare environment finds no Temporal server (it looked only at the environment and the
    // per-user dev.json, of which HOME has none), not the poisoned file.
    const poisoned = join(dir, 'poisoned');
    mkdirSync(join(poisoned, '.extauth'), { recursive: true });
    writeFileSync(join(poisoned, '.extauth', 'dev.json'), 'not json: an agent must never read this');
    const args = ['token', '--provider', world.providerId, '--user', user];
    const inPoisoned = await runWithInput(process.execPath, [EXTAUTH_BIN, ...args], { env, cwd: poisoned });
    expect(inPoisoned.code, inPoisoned.stderr).toBe(0);
    expect(inPoisoned.stdout).toBe(`${grant.accessToken}\n`);
    const directInPoisoned = await runWithInput(process.execPath, [EXTAUTH_BIN, ...args], { env: nothing, cwd: poisoned });
    expect(directInPoisoned.code).toBe(1);
    expect(directInPoisoned.stderr).toContain('no Temporal server');
    expect(directInPoisoned.stderr).not.toContain('JSON');

    const { EXTAUTH_AGENT_KEY: _, ...noKey } = env;
    const missingKey = await agentCli(['token', '--provider', world.providerId, '--user', user], noKey);
    expect(missingKey.code).toBe(1);
    expect(missingKey.stderr).toContain('EXTAUTH_AGENT_KEY is not');
    expect(missingKey.stderr).toContain('agent-key create');
  }, LONG);

  it('extauth agent-endpoint runs as its own process, serves a key holder and stops on SIGTERM', async () => {
    const user = uniqueUser('standalone');
    const grant = await world.seedLink(user);
    const { key } = await keyFor(user);
    const providersFile = join(dir, 'providers.json');
    writeFileSync(
      providersFile,
      JSON.stringify([{ id: world.providerId, type: 'github', clientId: world.provider.clientId, clientSecret: world.provider.clientSecret, tokenUrl: world.provider.tokenUrl, hosts: [GIT_HOST] }]),
    );
    const child = spawn(process.execPath, [EXTAUTH_BIN, 'agent-endpoint', '--port', '0'], {
      env: { PATH: process.env.PATH ?? '', HOME: dir, ...cliEnv(world.taskQueue, join(dir, 'data')), EXTAUTH_PROVIDERS: providersFile },
      cwd: bareCwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d) => {
        output += d;
        const match = /agent endpoint at (http:\/\/\S+)/.exec(output);
        if (match) resolve(match[1]!);
      });
      child.on('exit', (code) => reject(new Error(`agent-endpoint exited (${code}):\n${output}`)));
    });
    try {
      const served = await new AgentClient({ url, key }).getToken({ provider: world.providerId, user });
      expect(served.accessToken).toBe(grant.accessToken);
      expect(await new AgentClient({ url, key }).providers()).toEqual([{ id: world.providerId, type: 'github', hosts: [GIT_HOST] }]);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(tokensIn(output)).toEqual([]);
  }, LONG);
});

describe('git helper: a host its provider does not list gets nothing', () => {
  const gitGet = (host: string) => `protocol=https\nhost=${host}\npath=repo.git\n\n`;

  it('agent mode, with and without --provider: the listed host gets the token (control), a foreign host nothing', async () => {
    const user = uniqueUser('git-agent');
    const grant = await world.seedLink(user);
    const { key } = await keyFor(user);
    for (const forced of [[], ['--provider', world.providerId]]) {
      const args = ['git-credential', '--user', user, ...forced, 'get'];
      const listed = await agentCli(args, agentEnv(key), gitGet(GIT_HOST));
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain(`username=${grant.accessToken}\n`);
      const foreign = await agentCli(args, agentEnv(key), gitGet(FOREIGN_HOST));
      expect({ forced, ...foreign }).toEqual({ forced, code: 0, stdout: '', stderr: '' });
    }
  }, LONG);

  it('agent mode: a provider without hosts serves no host, and the helper says to add them', async () => {
    const user = uniqueUser('git-hostless');
    await world.seedLink(user);
    const { key } = await keyFor(user);
    const result = await agentCli(['git-credential', '--user', user, '--provider', world.providerId, 'get'], agentEnv(key, hostlessEndpoint.url), gitGet(FOREIGN_HOST));
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`provider ${world.providerId} lists no git hosts`);
    expect(result.stderr).toContain('"hosts"');
    expect(result.stderr).toContain('google and oauth2 presets');
    expect(tokensIn(result.stdout, result.stderr)).toEqual([]);
  }, LONG);

  it("a malicious repository's .extauth/ (git runs the helper in its folder) cannot add its host: nothing is read from there", async () => {
    const user = uniqueUser('git-repo');
    await world.seedLink(user);
    const repo = join(dir, 'malicious-repo');
    mkdirSync(join(repo, '.extauth'), { recursive: true });
    const planted = join(repo, '.extauth', 'providers.json');
    const entry = { id: world.providerId, type: 'github', clientId: world.provider.clientId, clientSecret: world.provider.clientSecret, tokenUrl: world.provider.tokenUrl };
    writeFileSync(planted, JSON.stringify([{ ...entry, hosts: [FOREIGN_HOST] }]));
    writeFileSync(
      join(repo, '.extauth', 'dev.json'),
      JSON.stringify({ temporalAddress: inject('temporalAddress'), namespace: 'default', taskQueue: world.taskQueue, uiUrl: null, databaseUrl: inject('databaseUrl'), providersFile: planted, codecKeyFile: null }),
    );
    // An operator's direct-mode environment without EXTAUTH_PROVIDERS or EXTAUTH_DATA_DIR, as git passes it to the helper.
    const env: Record<string, string> = { ...cliEnv(world.taskQueue, join(dir, 'data')), PATH: process.env.PATH ?? '', HOME: dir };
    delete env.EXTAUTH_DATA_DIR;
    for (const forced of [[], ['--provider', world.providerId]]) {
      const result = await runWithInput(process.execPath, [EXTAUTH_BIN, 'git-credential', '--user', user, ...forced, 'get'], { env, cwd: repo, input: gitGet(FOREIGN_HOST) });
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('EXTAUTH_PROVIDERS');
      expect(tokensIn(result.stdout, result.stderr)).toEqual([]);
    }
    // Control: the same files, chosen by the operator (absolute EXTAUTH_DATA_DIR), do send the token to that host.
    const chosen = await runWithInput(process.execPath, [EXTAUTH_BIN, 'git-credential', '--user', user, 'get'], {
      env: { ...env, EXTAUTH_DATA_DIR: join(repo, '.extauth') },
      cwd: repo,
      input: gitGet(FOREIGN_HOST),
    });
    expect(chosen.code, chosen.stderr).toBe(0);
    expect(tokensIn(chosen.stdout)).toHaveLength(1);
  }, LONG);

  it('direct mode, with and without --provider: the listed host gets the token (control), a foreign host nothing; a hostless provider is refused with the fix', async () => {
    const user = uniqueUser('git-direct');
    const grant = await world.seedLink(user);
    const providersFile = join(dir, 'providers-direct.json');
    const entry = { id: world.providerId, type: 'github', clientId: world.provider.clientId, clientSecret: world.provider.clientSecret, tokenUrl: world.provider.tokenUrl };
    writeFileSync(providersFile, JSON.stringify([{ ...entry, hosts: [GIT_HOST] }]));
    const env = { ...cliEnv(world.taskQueue, join(dir, 'data')), PATH: process.env.PATH ?? '', HOME: dir, EXTAUTH_PROVIDERS: providersFile };
    for (const forced of [[], ['--provider', world.providerId]]) {
      const args = ['git-credential', '--user', user, ...forced, 'get'];
      const listed = await agentCli(args, env, gitGet(GIT_HOST));
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain(`username=${grant.accessToken}\n`);
      const foreign = await agentCli(args, env, gitGet(FOREIGN_HOST));
      expect({ forced, ...foreign }).toEqual({ forced, code: 0, stdout: '', stderr: '' });
    }

    const hostless = join(dir, 'providers-hostless.json');
    writeFileSync(hostless, JSON.stringify([{ ...entry, type: 'oauth2' }]));
    const refused = await agentCli(['git-credential', '--user', user, '--provider', world.providerId, 'get'], { ...env, EXTAUTH_PROVIDERS: hostless }, gitGet(FOREIGN_HOST));
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain('lists no git hosts');
    expect(refused.stderr).toContain('google and oauth2 presets');
  }, LONG);
});
