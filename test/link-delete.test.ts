// `extauth link delete [--revoke]` (issue 17, item 3): the link's run deletes the row, answers every waiting and later
// request link_not_found (exit 5) and finishes; with --revoke a workflow of its own revokes the grant at the provider
// (GitHub's DELETE /applications/{client_id}/grant, RFC 7009 for GitLab), retrying transient failures durably and
// reporting a refusal (exit 4) with the link deleted all the same. Real Temporal and Postgres, fake providers.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listenAgentEndpoint, type RunningAgentEndpoint } from '../agent-api/listen.js';
import { createAgentRequestCounter } from '../agent-api/metrics.js';
import { AgentClient } from '../client/agent-client.js';
import { historyToJSONText } from '../cli/commands/history.js';
import { generateCodecKey, makeCodecKeys, parseCodecKey } from '../codec/keys.js';
import { isSealed, TokenSealer } from '../codec/seal.js';
import { createLogger } from '../config/logger.js';
import { linkWorkflowId } from '../core/ids.js';
import { createAgentKey } from '../store/agent-keys.js';
import { getLink, getLinkVersion, putLink, writePendingRotation } from '../store/links.js';
import { TokenCipher } from '../store/token-cipher.js';
import { ExtauthState } from '../workflows/search-attributes.js';
import { decodedPayloads } from './replay/fixture.js';
import { cliEnv, runCli, type CliResult } from './support/cli.js';
import { agentError, until } from './support/helpers.js';
import { logLines, uniqueUser, useWorld, type World } from './support/world.js';

const LONG = 120_000;
const GIT_HOST = 'git.deleted.test';
const github = useWorld({ providerConfig: (p) => ({ revocationUrl: p.revocationUrl, revocation: 'github-grant' }) });
const gitlab = useWorld({ provider: { flavor: 'gitlab' }, providerConfig: (p) => ({ preset: 'gitlab', baseUrl: p.baseUrl, refreshAheadSeconds: 0 }) });
/** A provider entry without revocationUrl (as bitbucket, azure-devops, and oauth2 unless set). */
const plain = useWorld();
const dataDir = mkdtempSync(join(tmpdir(), 'extauth-delete-'));

let endpoint: RunningAgentEndpoint;
beforeAll(async () => {
  const logger = createLogger({ write: (line: string) => void logLines.push(line) }, 'debug');
  endpoint = await listenAgentEndpoint(
    { pool: github.pool, client: github.client, logger, requests: createAgentRequestCounter(github.metrics.registry), providers: [{ id: github.providerId, type: 'github', hosts: [] }] },
    { port: 0, host: '127.0.0.1' },
  );
}, LONG);
afterAll(async () => {
  await endpoint?.close();
});

const cli = (world: World, args: string[]): Promise<CliResult> => runCli(args, cliEnv(world.taskQueue, dataDir));
const linkArgs = (world: World, user: string) => ['--provider', world.providerId, '--user', user];
const rowOf = (world: World, user: string) => getLink(world.pool, world.key(user), world.cipher);
const runStatus = async (world: World, user: string) => (await world.temporal.workflow.getHandle(linkWorkflowId(world.key(user))).describe()).status.name;

/** What the provider says now of a grant's tokens: is the access token accepted, is the refresh token exchanged. */
async function providerAccepts(world: World, grant: { accessToken: string; refreshToken: string }) {
  const p = world.provider;
  const validate = await request(p.validateUrl, { headers: { authorization: `Bearer ${grant.accessToken}`, accept: 'application/json' } });
  await validate.body.dump();
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.refreshToken, client_id: p.clientId, client_secret: p.clientSecret });
  const exchange = await request(p.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form.toString() });
  const answer = (await exchange.body.json()) as { error?: string; access_token?: string };
  return { validateStatus: validate.statusCode, refreshError: answer.error ?? null, refreshed: typeof answer.access_token === 'string' };
}

/** The revocation's outcome as the CLI printed it with --json (one line). */
function jsonLine(result: CliResult): Record<string, unknown> {
  const lines = result.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

/** Every payload of a workflow's history decoded with the client payload key: what anyone with namespace read access sees. */
async function clientView(world: World, workflowId: string): Promise<string> {
  const history = await world.temporal.workflow.getHandle(workflowId).fetchHistory();
  const values = (await decodedPayloads(historyToJSONText(history), makeCodecKeys(parseCodecKey(inject('codecKey'), 'codecKey')))).map((p) => p.value);
  return JSON.stringify(values);
}

describe('link delete without --revoke', () => {
  it('deletes the row and ends the run, with no provider call; later requests (client, CLI, agent endpoint, git credential helper) get exit 5', async () => {
    const user = uniqueUser('plain');
    const grant = await github.seedLink(user);
    const { key } = await createAgentKey(github.pool, { providerId: github.providerId, userId: user, name: 'agent of a deleted link' });
    // The run is open and the agent key works before the delete (control for the exit 5s below).
    await new AgentClient({ url: endpoint.url, key }).getToken({ provider: github.providerId, user });
    const providersFile = join(dataDir, 'providers.json');
    writeFileSync(providersFile, JSON.stringify([{ id: github.providerId, type: 'github', clientId: 'x', clientSecret: 'y', tokenUrl: github.provider.tokenUrl, hosts: [GIT_HOST] }]), { mode: 0o600 });
    const gitHelper = () =>
      runCli(['git-credential', '--user', user, '--provider', github.providerId, 'get'], { ...cliEnv(github.taskQueue, dataDir), EXTAUTH_PROVIDERS: providersFile }, { stdin: `protocol=https\nhost=${GIT_HOST}\n\n` });
    const before = await gitHelper();
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toContain(`username=${grant.accessToken}`);
    const revokeCallsBefore = github.provider.stats.revokeCalls;

    const result = await cli(github, ['link', 'delete', ...linkArgs(github, user), '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(jsonLine(result)).toEqual({ deleted: true, revocation: 'not_requested' });
    expect(await rowOf(github, user)).toBeUndefined();
    await until(async () => (await runStatus(github, user)) === 'COMPLETED', 20_000, 'the link run finished');
    const closed = await github.temporal.workflow.getHandle(linkWorkflowId(github.key(user))).describe();
    expect(closed.typedSearchAttributes.get(ExtauthState)).toBe('deleted');
    // No provider call: the grant is left alone, and still works at the provider.
    expect(github.provider.stats.revokeCalls).toBe(revokeCallsBefore);
    expect(github.provider.stats.tokenCallsByFamily.get(user) ?? 0).toBe(0);
    expect(github.provider.isAccessTokenValid(grant.accessToken)).toBe(true);

    expect((await agentError(github.client.getToken({ provider: github.providerId, user }))).code).toBe('link_not_found');
    const token = await cli(github, ['token', ...linkArgs(github, user)]);
    expect(token.code, token.stderr).toBe(5);
    expect((await agentError(new AgentClient({ url: endpoint.url, key }).getToken({ provider: github.providerId, user }))).code).toBe('link_not_found');
    // git's credential helper: exit 5 and nothing on stdout (git prompts, or fails with GIT_TERMINAL_PROMPT=0).
    const helper = await gitHelper();
    expect(helper.code, helper.stderr).toBe(5);
    expect(helper.stdout).toBe('');
    expect(`${result.stdout}${result.stderr}${token.stdout}${token.stderr}`).not.toContain(grant.accessToken);
  }, LONG);

  it('an unknown link is exit 5, with or without --revoke, and creates nothing', async () => {
    const user = uniqueUser('never');
    for (const extra of [[], ['--revoke']]) {
      const result = await cli(github, ['link', 'delete', ...linkArgs(github, user), ...extra]);
      expect(result.code, result.stderr).toBe(5);
      expect(result.stderr).toMatch(/link_not_found: no link for/);
    }
    expect(await rowOf(github, user)).toBeUndefined();
    expect(github.provider.stats.revokeCallsByFamily.get(user)).toBeUndefined();
  }, LONG);
});

describe('a link whose tokens no configured key opens', () => {
  it('is deleted without --revoke (its tokens are not read); --revoke needs them and leaves the row (exit 4)', async () => {
    const user = uniqueUser('lost-key');
    const grant = github.provider.issueGrant({ familyId: user });
    const lost = new TokenCipher(generateCodecKey('lost'));
    await putLink(github.pool, github.key(user), { accessToken: grant.accessToken, refreshToken: grant.refreshToken, tokenType: 'bearer', expiresAt: new Date(Date.now() + 3_600_000).toISOString(), extra: {} }, lost);
    // Control: the worker cannot serve it.
    expect((await agentError(github.client.getToken({ provider: github.providerId, user }))).code).toBe('provider_unavailable');
    const revoke = await cli(github, ['link', 'delete', ...linkArgs(github, user), '--revoke']);
    expect(revoke.code, revoke.stderr).toBe(4);
    expect(await getLinkVersion(github.pool, github.key(user))).toBeDefined();
    const deleted = await cli(github, ['link', 'delete', ...linkArgs(github, user)]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await getLinkVersion(github.pool, github.key(user))).toBeUndefined();
  }, LONG);
});

describe('waiting agents when the delete lands', () => {
  it('an agent waiting for a re-link (`extauth token --wait`) and one waiting through the client both get exit 5', async () => {
    const user = uniqueUser('waiting');
    await github.seedLink(user, { expiresInSeconds: -60 });
    github.provider.revokeFamily(user);
    expect((await agentError(github.client.getToken({ provider: github.providerId, user }))).code).toBe('reauth_required');
    const cliAgent = cli(github, ['token', ...linkArgs(github, user), '--wait', '2m']);
    const clientAgent = agentError(github.client.getToken({ provider: github.providerId, user, waitSeconds: 110 }));
    await until(async () => ((await github.client.peekStatus({ provider: github.providerId, user }))?.waitingForRelink ?? 0) === 2, 30_000, 'two agents waiting');

    const started = Date.now();
    const deleted = await cli(github, ['link', 'delete', ...linkArgs(github, user)]);
    expect(deleted.code, deleted.stderr).toBe(0);
    const [waitedCli, waitedClient] = await Promise.all([cliAgent, clientAgent]);
    expect(waitedCli.code, waitedCli.stderr).toBe(5);
    expect(waitedCli.stderr).toMatch(/it was deleted/);
    expect(waitedClient.code).toBe('link_not_found');
    // Woken by the delete, not by the end of their waits (2 min).
    expect(Date.now() - started).toBeLessThan(30_000);
    await until(async () => (await runStatus(github, user)) === 'COMPLETED', 20_000, 'the link run finished');
  }, LONG);
});

describe('link delete --revoke', () => {
  it('GitHub: the grant is deleted at the provider (old access and refresh token dead); another link still works (control)', async () => {
    const user = uniqueUser('gh-revoke');
    const other = uniqueUser('gh-keep');
    const grant = await github.seedLink(user);
    const kept = await github.seedLink(other);
    expect(await providerAccepts(github, { accessToken: grant.accessToken, refreshToken: 'not-a-token' })).toMatchObject({ validateStatus: 200 });

    const result = await cli(github, ['link', 'delete', ...linkArgs(github, user), '--revoke', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const line = jsonLine(result);
    expect(line).toMatchObject({ deleted: true, revocation: 'revoked' });
    expect(await rowOf(github, user)).toBeUndefined();
    expect(github.provider.stats.revokedFamilies.has(user)).toBe(true);
    expect(await providerAccepts(github, grant)).toEqual({ validateStatus: 401, refreshError: 'bad_refresh_token', refreshed: false });

    // Control: the same checks on a link nobody deleted find its tokens alive, and it is served.
    expect((await github.client.getToken({ provider: github.providerId, user: other })).accessToken).toBe(kept.accessToken);
    expect(await providerAccepts(github, { accessToken: kept.accessToken, refreshToken: 'not-a-token' })).toMatchObject({ validateStatus: 200 });
    expect(github.provider.liveRefreshToken(other)).toBe(kept.refreshToken);

    // No token on argv (none given), in the output, or readable with the client key in either history.
    for (const token of [grant.accessToken, grant.refreshToken]) expect(result.stdout + result.stderr).not.toContain(token);
    const revocationId = String(line.revocationWorkflowId);
    const views = [await clientView(github, linkWorkflowId(github.key(user))), await clientView(github, revocationId)];
    for (const view of views) for (const token of [grant.accessToken, grant.refreshToken]) expect(view).not.toContain(token);
    // Control: the sealed grant in the link's history, opened with the worker key, holds both tokens.
    const sealed = [...views[0]!.matchAll(/extauth-sealed:v1:[^"\\]+/g)].map((m) => m[0]).filter(isSealed);
    expect(sealed.length).toBeGreaterThan(0);
    const workerSealer = new TokenSealer(makeCodecKeys(parseCodecKey(inject('workerKey'), 'workerKey')));
    expect(workerSealer.open(sealed[0]!, github.key(user), 'the sealed grant')).toEqual({ accessToken: grant.accessToken, refreshToken: grant.refreshToken });
  }, LONG);

  it('GitLab (RFC 7009): the refresh token is revoked and with it the access token; another link still works (control)', async () => {
    const user = uniqueUser('gl-revoke');
    const other = uniqueUser('gl-keep');
    const grant = await gitlab.seedLink(user);
    const kept = await gitlab.seedLink(other);

    const result = await cli(gitlab, ['link', 'delete', ...linkArgs(gitlab, user), '--revoke']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/deleted link .*; grant revoked at the provider/);
    expect(await rowOf(gitlab, user)).toBeUndefined();
    expect(await providerAccepts(gitlab, grant)).toEqual({ validateStatus: 401, refreshError: 'invalid_grant', refreshed: false });
    // Control: the other grant is untouched at the provider (the same check finds it alive).
    expect(gitlab.provider.isAccessTokenValid(kept.accessToken)).toBe(true);
    expect(gitlab.provider.liveRefreshToken(other)).toBe(kept.refreshToken);
    expect((await gitlab.client.getToken({ provider: gitlab.providerId, user: other })).accessToken).toBe(kept.accessToken);
  }, LONG);

  it('503s from the revocation endpoint are retried until it revokes; past --wait the CLI says pending and the revocation still completes', async () => {
    const user = uniqueUser('transient');
    const grant = await gitlab.seedLink(user);
    gitlab.provider.injectFault('revoke', { kind: 'status', status: 503, body: '{"error":"temporarily_unavailable"}', contentType: 'application/json' }, { familyId: user, times: 3 });

    const result = await cli(gitlab, ['link', 'delete', ...linkArgs(gitlab, user), '--revoke', '--wait', '1', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const line = jsonLine(result);
    expect(line).toMatchObject({ deleted: true, revocation: 'pending' });
    expect(await rowOf(gitlab, user)).toBeUndefined();
    // The CLI is gone; the revocation goes on (1 s, 2 s, 4 s backoff) and ends the grant.
    expect(await gitlab.client.revocationOutcome(String(line.revocationWorkflowId), 60_000)).toEqual({ outcome: 'revoked', status: 200 });
    expect(gitlab.provider.stats.revokeCallsByFamily.get(user)).toBe(4);
    expect(gitlab.provider.isAccessTokenValid(grant.accessToken)).toBe(false);
  }, LONG);

  it('a transient failure within --wait: the CLI reports revoked (exit 0)', async () => {
    const user = uniqueUser('transient-wait');
    await gitlab.seedLink(user);
    gitlab.provider.injectFault('revoke', { kind: 'status', status: 502 }, { familyId: user, times: 1 });
    const result = await cli(gitlab, ['link', 'delete', ...linkArgs(gitlab, user), '--revoke', '--wait', '60s', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(jsonLine(result)).toMatchObject({ deleted: true, revocation: 'revoked' });
    expect(gitlab.provider.stats.revokeCallsByFamily.get(user)).toBe(2);
  }, LONG);

  it('a permanent refusal (client authentication) is reported with exit 4, not retried, and the link stays deleted', async () => {
    const user = uniqueUser('refused');
    const grant = await gitlab.seedLink(user);
    const body = JSON.stringify({ error: 'invalid_client', error_description: 'Client authentication failed due to unknown client.' });
    gitlab.provider.injectFault('revoke', { kind: 'status', status: 401, body, contentType: 'application/json' }, { familyId: user, times: 5 });

    const result = await cli(gitlab, ['link', 'delete', ...linkArgs(gitlab, user), '--revoke']);
    expect(result.code, result.stderr).toBe(4);
    expect(result.stderr).toMatch(/deleted link .*, but the provider refused the revocation: HTTP 401 invalid_client: Client authentication failed/);
    expect(await rowOf(gitlab, user)).toBeUndefined();
    expect(gitlab.provider.stats.revokeCallsByFamily.get(user)).toBe(1);
    // Reported honestly: the grant is still live at the provider.
    expect(gitlab.provider.isAccessTokenValid(grant.accessToken)).toBe(true);
    const again = await cli(gitlab, ['token', ...linkArgs(gitlab, user)]);
    expect(again.code).toBe(5);
  }, LONG);

  it('GitHub: a dead access token (an idle link) is renewed with the refresh token, then the grant revoked; a 503 after the renewal is retried with the renewed grant', async () => {
    const user = uniqueUser('gh-renew');
    const grant = await github.seedLink(user);
    github.provider.revokeAccessToken(grant.accessToken); // as if expired: GitHub answers 422 to it
    // Revocation calls of this grant: 1st 422 (dead token, answered by the fake itself), 2nd (renewed token) 503, 3rd ok.
    github.provider.scriptFaults('revoke', user, [null, { kind: 'status', status: 503 }]);
    const result = await cli(github, ['link', 'delete', ...linkArgs(github, user), '--revoke', '--wait', '60s', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(jsonLine(result)).toMatchObject({ deleted: true, revocation: 'revoked' });
    expect(github.provider.stats.revokeCallsByFamily.get(user)).toBe(3);
    // One renewal only: the retry used the renewed grant carried in the activity's heartbeat (the old refresh token was
    // rotated away; presenting it again would have been refused and reported).
    expect(github.provider.stats.tokenCallsByFamily.get(user)).toBe(1);
    expect(github.provider.stats.revokedFamilies.has(user)).toBe(true);
    expect(github.provider.liveRefreshToken(user)).toBeUndefined();
  }, LONG);

  it('GitHub: a rotation journaled on the row and not yet applied (a worker killed after the exchange): the grant is revoked with the journal\'s live tokens', async () => {
    const user = uniqueUser('gh-journal');
    const seeded = await github.seedLink(user);
    // The provider rotated (GitHub ends the old access token) and the answer is only in the journal: the row's tokens are dead.
    const rotated = github.provider.issueGrant({ familyId: user });
    github.provider.revokeAccessToken(seeded.accessToken);
    const row = (await rowOf(github, user))!;
    const answer = { accessToken: rotated.accessToken, refreshToken: rotated.refreshToken, tokenType: 'bearer', expiresAt: new Date(Date.now() + 3_600_000).toISOString(), extra: {} };
    await writePendingRotation(github.pool, github.key(user), row.tokenVersion, answer, github.cipher);
    const result = await cli(github, ['link', 'delete', ...linkArgs(github, user), '--revoke', '--wait', '60s', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(jsonLine(result)).toMatchObject({ deleted: true, revocation: 'revoked' });
    expect(github.provider.stats.revokedFamilies.has(user)).toBe(true);
    // Revoked with the journal's access token at once: no renewal with the row's dead refresh token (which would be refused).
    expect(github.provider.stats.tokenCallsByFamily.get(user) ?? 0).toBe(0);
    expect(await rowOf(github, user)).toBeUndefined();
  }, LONG);

  it('GitHub: access and refresh token both dead (the grant revoked already): exit 4 with the reason, --json on one line, the link deleted', async () => {
    const user = uniqueUser('gh-dead');
    await github.seedLink(user);
    github.provider.revokeFamily(user);
    const result = await cli(github, ['link', 'delete', ...linkArgs(github, user), '--revoke', '--json']);
    expect(result.code, result.stderr).toBe(4);
    expect(jsonLine(result)).toMatchObject({
      deleted: true,
      revocation: 'refused',
      error: 'provider_unavailable',
      reason: expect.stringMatching(/HTTP 422 .* the refresh token was refused too \(bad_refresh_token/),
    });
    expect(await rowOf(github, user)).toBeUndefined();
    expect(github.provider.stats.revokeCallsByFamily.get(user)).toBe(1);
  }, LONG);

  it('a provider without a revocationUrl: --revoke exits 2 before anything is deleted; without --revoke the delete works', async () => {
    const user = uniqueUser('no-revocation');
    await plain.seedLink(user);
    const refused = await cli(plain, ['link', 'delete', ...linkArgs(plain, user), '--revoke']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/has no revocationUrl/);
    expect(await rowOf(plain, user)).toBeDefined();
    const deleted = await cli(plain, ['link', 'delete', ...linkArgs(plain, user)]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await rowOf(plain, user)).toBeUndefined();
  }, LONG);
});
