// Bad input, beyond what test/cli.test.ts already covers (usage errors, exit 5, nothing configured, a bad
// tokenUrl): each gets a clear error and exit code, no workflow task is crashed into a retry loop, and
// nothing already stored is lost.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { TunedExtauthClient } from '../../client/tuned-client.js';
import { linkWorkflowId } from '../../core/ids.js';
import { getTokenUpdate } from '../../workflows/messages.js';
import { cliEnv, runCli } from '../support/cli.js';
import { agentError } from '../support/helpers.js';
import { FAST_TUNING, logLines, startWorld, uniqueUser, type World } from '../support/world.js';

let world: World;
let env: Record<string, string>;
const dataDir = mkdtempSync(join(tmpdir(), 'extauth-badinput-'));

beforeAll(async () => {
  world = await startWorld();
  env = cliEnv(world.taskQueue, dataDir);
});
afterAll(async () => {
  expect(world.leakedTokens()).toEqual([]);
  expect(logLines.filter((l) => l.includes('Failing workflow task'))).toEqual([]);
  await world.stop();
});

const link = (user: string) => ['--provider', world.providerId, '--user', user];

describe('absurd arguments', () => {
  it.concurrent.each([['-5'], ['1e400'], ['1.5'], [''], ['0x10']])('token --min-valid %j: exit 2 naming --min-valid', async (value) => {
    const result = await runCli(['token', ...link('u'), '--min-valid', value], env);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/--min-valid/);
    expect(result.stderr).not.toMatch(/unexpected error/);
  });

  it.concurrent.each([
    [['--expires-in', '0']],
    [['--expires-in', '999999999999']],
    [['--expires-at', 'tomorrow']],
    [['--expires-in', '60', '--expires-at', '2030-01-01T00:00:00Z']],
  ])('link put %j: exit 2, nothing written', async (expiry) => {
    const user = uniqueUser('badput');
    const result = await runCli(['link', 'put', ...link(user), '--access-token', 'a', '--refresh-token', 'r', ...expiry], env);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).not.toMatch(/unexpected error/);
    const { rows } = await world.pool.query('SELECT 1 FROM external_auth_links WHERE provider_id = $1 AND user_id = $2', [world.providerId, user]);
    expect(rows).toEqual([]);
  });

  it('an empty --user or --provider is a usage error, not a lookup', async () => {
    for (const args of [['token', '--provider', world.providerId, '--user', ''], ['status', '--provider', '', '--user', 'u']]) {
      const result = await runCli(args, env);
      expect(result.code, args.join(' ')).toBe(2);
    }
  });

  it('the library refuses absurd minValidSeconds before any server call', async () => {
    for (const minValidSeconds of [-1, Number.NaN, Number.POSITIVE_INFINITY, 10 ** 12]) {
      const err = await agentError(world.client.getToken({ provider: world.providerId, user: 'u', minValidSeconds }));
      expect(err.code).toBe('invalid_request');
    }
  });

  it('an absurd update sent around the client is rejected by the validator: no workflow task failure, the link still serves', async () => {
    const user = uniqueUser('raw');
    const grant = await world.seedLink(user, { expiresInSeconds: 3600 });
    await world.client.getToken({ provider: world.providerId, user });
    const handle = world.temporal.workflow.getHandle(linkWorkflowId(world.key(user)));
    for (const minValidSeconds of [-1, 1e12, null, 'soon']) {
      await expect(handle.executeUpdate(getTokenUpdate, { args: [{ minValidSeconds } as never] })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    }
    await expect(handle.executeUpdate(getTokenUpdate, { args: [undefined as never] })).rejects.toThrow();
    const token = await world.client.getToken({ provider: world.providerId, user });
    expect(token.accessToken).toBe(grant.accessToken);
    expect((await world.row(user)).refreshToken).toBe(grant.refreshToken);
  });

  it('a user id with separators and unicode is its own link (percent-encoded id), unknown: link_not_found', async () => {
    const err = await agentError(world.client.getToken({ provider: world.providerId, user: `a:b/c%d é ${uniqueUser('x')}` }));
    expect(err.code).toBe('link_not_found');
  });
});

describe('broken providers files: `extauth worker` exits 1 with a message, never a stack trace', () => {
  it.concurrent.each([
    ['not JSON', '{oops', /JSON|parse/i],
    ['duplicate ids', JSON.stringify([1, 2].map(() => ({ id: 'gh', type: 'github', clientId: 'x', clientSecret: 'y', tokenUrl: 'https://x.test/t' }))), /duplicate provider id/],
    ['a non-http validateUrl', JSON.stringify([{ id: 'gh', type: 'github', clientId: 'x', clientSecret: 'y', tokenUrl: 'https://x.test/t', validateUrl: 'file:///etc/passwd' }]), /validateUrl/],
  ])('%s', async (_label, content, message) => {
    const file = join(dataDir, `providers-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, content);
    const result = await runCli(['worker'], { ...env, EXTAUTH_PROVIDERS: file });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/unexpected error|\n\s+at /);
  });

  it('a providers file that does not exist', async () => {
    const result = await runCli(['worker'], { ...env, EXTAUTH_PROVIDERS: join(dataDir, 'missing.json') });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/missing\.json/);
  });
});

describe('unreadable provider answers that never stop', () => {
  it.concurrent.each([
    ['non-UTF-8', { kind: 'malformed', shape: 'non_utf8' } as const, /not valid UTF-8/],
    ['4 MiB', { kind: 'malformed', shape: 'oversized' } as const, /larger than/],
    ['HTML with 200', { kind: 'malformed', shape: 'html_200' } as const, /unreadable/],
  ])('token endpoint answering %s every time: exit 4 (provider_unavailable), the stored refresh token kept and still live', async (_label, fault, reason) => {
    const user = uniqueUser('garbage');
    const seeded = await world.seedLink(user, { expiresInSeconds: -10 });
    const before = await world.row(user);
    // Open the run through the library so it carries short budgets.
    const client = new TunedExtauthClient(world.temporal, { taskQueue: world.taskQueue }, { ...FAST_TUNING, exchangeBudgetMs: 4_000 });
    await client.status({ provider: world.providerId, user });
    world.provider.injectFault('token', fault, { familyId: user, times: 1_000 });

    const result = await runCli(['token', ...link(user), '--json'], env);
    expect(result.code, result.stderr).toBe(4);
    const body = JSON.parse(result.stdout);
    expect(body.code).toBe('provider_unavailable');
    expect(body.reason).toMatch(reason);
    const row = await world.row(user);
    expect(row.refreshToken).toBe(seeded.refreshToken);
    expect(world.provider.liveRefreshToken(user)).toBe(seeded.refreshToken);
    expect(row.tokenVersion).toBe(before.tokenVersion);
    expect(row.failureReason).toBe('');

    // Once the provider answers properly again, the link refreshes as if nothing happened.
    world.provider.clearFaults(user);
    const token = await client.getToken({ provider: world.providerId, user });
    expect(world.provider.isAccessTokenValid(token.accessToken)).toBe(true);
    expect((await world.row(user)).refreshToken).toBe(world.provider.liveRefreshToken(user));
  }, 60_000);
});
