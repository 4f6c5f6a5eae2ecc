// Tokens at rest: by default (the run's database key, or the dev key found through dev.json) the token columns
// and oauth_extra (id_token) of external_auth_links hold ciphertext and the key id; only the explicit opt-out
// EXTAUTH_DB_PLAINTEXT=allow stores plaintext, and a worker refuses to start with neither. The workflow still
// serves the right token, `db encrypt-tokens` migrates old rows, strict mode refuses plaintext rows, and a row
// under a key the worker lacks fails requests fast and clearly instead of wedging the workflow.
import proto from '@temporalio/proto';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { formatCodecKey, generateCodecKey } from '../codec/keys.js';
import { ConfigError, devEndpointsFile, type DevEndpoints } from '../config/env.js';
import { tokenCipherForProcess } from '../store/db-key.js';
import { linkWorkflowId } from '../core/ids.js';
import type { LinkKey, TokenSet } from '../core/types.js';
import type { Grant } from '../dev/fake-provider.js';
import { getLink, putLink, writePendingRotation } from '../store/links.js';
import { reencryptStoredTokens } from '../store/reencrypt.js';
import { TokenCipher, TokenKeyError, tokenCipherFromEnv } from '../store/token-cipher.js';
import { cliEnv as operatorEnv, runCli } from './support/cli.js';
import { agentError } from './support/helpers.js';
import { logLines, startWorld, uniqueUser, type World } from './support/world.js';

const oldKey = generateCodecKey('db-old');
const currentKey = generateCodecKey('db-new');
const strayKey = generateCodecKey('db-stray');
/** The worker's cipher: encrypts with the current key, still reads the old one (mid-rotation). */
const cipher = new TokenCipher(currentKey, [oldKey]);
const oldCipher = new TokenCipher(oldKey);
const strayCipher = new TokenCipher(strayKey);

let encrypted: World;
let plaintext: World;
/** The default: no cipher given, so the worker resolves the run's EXTAUTH_DB_KEY as an operator's worker would. */
let defaults: World;
/** EXTAUTH_DB_STRICT: plaintext rows are refused. */
let strict: World;
let cliEnv: Record<string, string>;
beforeAll(async () => {
  [encrypted, plaintext, defaults, strict] = await Promise.all([
    startWorld({ tokenCipher: cipher }),
    startWorld({ tokenCipher: null }),
    startWorld(),
    startWorld({ tokenCipher: tokenCipherForProcess({ EXTAUTH_DB_KEY: inject('dbKey'), EXTAUTH_DB_STRICT: '1' }, 'the strict test worker') }),
  ]);
  cliEnv = {
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    DATABASE_URL: inject('databaseUrl'),
    EXTAUTH_TASK_QUEUE: encrypted.taskQueue,
    EXTAUTH_DATA_DIR: `/tmp/extauth-tokens-at-rest-${randomBytes(4).toString('hex')}`,
    EXTAUTH_CODEC_KEY: inject('codecKey'),
    EXTAUTH_DB_KEY: formatCodecKey(currentKey),
    EXTAUTH_DB_DECRYPT_KEYS: formatCodecKey(oldKey),
  };
});
afterAll(async () => {
  for (const world of [encrypted, defaults, strict]) expect(world.leakedTokens()).toEqual([]);
  await Promise.all([encrypted.stop(), plaintext.stop(), defaults.stop(), strict.stop()]);
});

interface RawRow {
  user_id: string;
  oauth_access_token: string;
  oauth_refresh_token: string;
  oauth_access_token_key_id: string | null;
  oauth_refresh_token_key_id: string | null;
  /** oauth_extra as text: the JSON object in plaintext, or a JSON string of ciphertext. */
  oauth_extra: string | null;
  oauth_extra_key_id: string | null;
  token_version: string;
}

/** The rows exactly as Postgres stores them, no store code in between. */
async function rawRows(world: World, providerId: string, users: string[]): Promise<RawRow[]> {
  const { rows } = await world.pool.query<RawRow>(
    `SELECT user_id, oauth_access_token, oauth_refresh_token, oauth_access_token_key_id, oauth_refresh_token_key_id,
       oauth_extra::text AS oauth_extra, oauth_extra_key_id, token_version
     FROM external_auth_links WHERE provider_id = $1 AND user_id = ANY($2) ORDER BY user_id`,
    [providerId, users],
  );
  expect(rows).toHaveLength(users.length);
  return rows;
}

/** Issued tokens (and any `also`, e.g. an id_token) found anywhere in the rows' token columns or oauth_extra. */
function tokensIn(world: World, rows: RawRow[], also: string[] = []): string[] {
  const text = rows.map((r) => `${r.oauth_access_token}\n${r.oauth_refresh_token}\n${r.oauth_extra ?? ''}`).join('\n');
  return [...world.provider.issuedTokens(), ...also].filter((token) => text.includes(token));
}

const ref = (world: World, user: string) => ({ provider: world.providerId, user });
const tokenCalls = (world: World, user: string) => world.provider.stats.tokenCallsByFamily.get(user) ?? 0;
const asTokenSet = (grant: Grant, expiresInSeconds: number): TokenSet => ({
  accessToken: grant.accessToken,
  refreshToken: grant.refreshToken,
  tokenType: 'bearer',
  expiresAt: new Date(Date.now() + expiresInSeconds * 1000).toISOString(),
  extra: { expires_in: grant.expiresIn },
});

/** Two refreshes through the real workflow (one on expiry, one forced); returns the token served last. */
async function refreshTwice(world: World, user: string): Promise<string> {
  await world.seedLink(user, { expiresInSeconds: -5 });
  const first = await world.client.getToken(ref(world, user));
  // The provider ends the served token: a forced refresh replaces it at once (one the provider still accepted would
  // wait for its told expiry, test/told-expiry.test.ts).
  world.provider.revokeAccessToken(first.accessToken);
  await world.client.refresh(ref(world, user));
  const served = await world.client.getToken(ref(world, user));
  expect(served.accessToken).not.toBe(first.accessToken);
  expect(world.provider.isAccessTokenValid(served.accessToken)).toBe(true);
  expect(tokenCalls(world, user)).toBe(2);
  return served.accessToken;
}

describe('token columns at rest', () => {
  it('with a key, the raw table holds no issued token after refreshes, the key id is stored, and the right token is served', async () => {
    const users = [uniqueUser('enc'), uniqueUser('enc')];
    for (const user of users) {
      const served = await refreshTwice(encrypted, user);
      const row = await encrypted.row(user); // through the store: decrypted
      expect(row.accessToken).toBe(served);
      expect(row.refreshToken).toBe(encrypted.provider.liveRefreshToken(user));
    }
    const raw = await rawRows(encrypted, encrypted.providerId, users);
    expect(tokensIn(encrypted, raw)).toEqual([]);
    for (const r of raw) {
      expect(r.oauth_access_token_key_id).toBe('db-new');
      expect(r.oauth_refresh_token_key_id).toBe('db-new');
      expect(r.oauth_access_token).toMatch(/^[A-Za-z0-9+/]+=*$/);
    }
    // The token served from memory is also the one the row decrypts to, on the next load of a fresh run.
    const again = await encrypted.client.getToken(ref(encrypted, users[0]!));
    expect(again.accessToken).toBe((await encrypted.row(users[0]!)).accessToken);
  });

  it('the same check finds the tokens when no key is configured (so it can fail)', async () => {
    const user = uniqueUser('plain');
    const served = await refreshTwice(plaintext, user);
    const raw = await rawRows(plaintext, plaintext.providerId, [user]);
    expect(tokensIn(plaintext, raw)).toEqual(expect.arrayContaining([served, plaintext.provider.liveRefreshToken(user)]));
    expect(raw[0]!.oauth_access_token_key_id).toBeNull();
    expect(raw[0]!.oauth_refresh_token_key_id).toBeNull();
  });

  it('reads need the right key: none, a missing one, or a value moved to another row fail with the key id named', async () => {
    const user = uniqueUser('keys');
    const other = uniqueUser('keys');
    await encrypted.seedLink(user);
    await encrypted.seedLink(other);
    const key = encrypted.key(user);
    await expect(getLink(encrypted.pool, key)).rejects.toThrow(/encrypted with database key "db-new", but no database key is configured/);
    await expect(getLink(encrypted.pool, key, strayCipher)).rejects.toThrow(/database key "db-new", which is not configured.*EXTAUTH_DB_DECRYPT_KEYS/);
    await expect(getLink(encrypted.pool, key, strayCipher)).rejects.toBeInstanceOf(TokenKeyError);
    // Ciphertext is bound to its row and column: copied into another row it does not decrypt.
    await encrypted.pool.query(
      `UPDATE external_auth_links t SET oauth_refresh_token = s.oauth_refresh_token FROM external_auth_links s
       WHERE t.provider_id = $1 AND t.user_id = $2 AND s.provider_id = $1 AND s.user_id = $3`,
      [encrypted.providerId, other, user],
    );
    await expect(getLink(encrypted.pool, encrypted.key(other), cipher)).rejects.toThrow(/refresh token of link .* does not decrypt with database key "db-new"/);
    // Old callers without a cipher still read and write plaintext rows as before.
    const plainKey: LinkKey = { providerId: `legacy-${randomBytes(4).toString('hex')}`, userId: 'u1' };
    const grant = encrypted.provider.issueGrant({ familyId: 'legacy' });
    await putLink(encrypted.pool, plainKey, asTokenSet(grant, 3600));
    expect(await getLink(encrypted.pool, plainKey)).toMatchObject({ accessToken: grant.accessToken, accessTokenKeyId: null, refreshTokenKeyId: null });
  });

  it('EXTAUTH_DB_KEY / EXTAUTH_DB_DECRYPT_KEYS are parsed with the codec key format', () => {
    expect(tokenCipherFromEnv({})).toBeUndefined();
    const fromEnv = tokenCipherFromEnv({ EXTAUTH_DB_KEY: formatCodecKey(currentKey), EXTAUTH_DB_DECRYPT_KEYS: ` ${formatCodecKey(oldKey)} ,` });
    expect(fromEnv?.currentKeyId).toBe('db-new');
    expect(fromEnv?.hasKey('db-old')).toBe(true);
    expect(() => tokenCipherFromEnv({ EXTAUTH_DB_KEY: 'k1:tooshort' })).toThrow(/EXTAUTH_DB_KEY must be "<key id>:<base64 of 32 random bytes>"/);
    expect(() => tokenCipherFromEnv({ EXTAUTH_DB_DECRYPT_KEYS: formatCodecKey(oldKey) })).toThrow(/EXTAUTH_DB_KEY is not/);
  });

  it('`link put` stores encrypted tokens when EXTAUTH_DB_KEY is set, and the workflow serves them', async () => {
    const user = uniqueUser('cli-put');
    const grant = encrypted.provider.issueGrant({ familyId: user });
    const put = await runCli(
      ['link', 'put', '--provider', encrypted.providerId, '--user', user, '--access-token', grant.accessToken, '--refresh-token', grant.refreshToken, '--expires-in', '3600'],
      cliEnv,
    );
    expect(put.code, put.stderr).toBe(0);
    const [raw] = await rawRows(encrypted, encrypted.providerId, [user]);
    expect(tokensIn(encrypted, [raw!])).toEqual([]);
    expect([raw!.oauth_access_token_key_id, raw!.oauth_refresh_token_key_id]).toEqual(['db-new', 'db-new']);
    expect((await encrypted.client.getToken(ref(encrypted, user))).accessToken).toBe(grant.accessToken);
  }, 120_000);

  it('`db encrypt-tokens` encrypts plaintext rows and rotates old-key rows, row by row next to a running workflow; idempotent', async () => {
    const providerId = encrypted.providerId;
    const plainUser = uniqueUser('mig-plain');
    const oldUser = uniqueUser('mig-old');
    const liveUser = uniqueUser('mig-live');
    const grants = new Map<string, Grant>();
    for (const user of [plainUser, oldUser, liveUser]) grants.set(user, encrypted.provider.issueGrant({ familyId: user }));
    // Rows as written before encryption was turned on, and under the previous key.
    await putLink(encrypted.pool, encrypted.key(plainUser), asTokenSet(grants.get(plainUser)!, -5));
    await putLink(encrypted.pool, encrypted.key(oldUser), asTokenSet(grants.get(oldUser)!, -5), oldCipher);
    await putLink(encrypted.pool, encrypted.key(liveUser), asTokenSet(grants.get(liveUser)!, 3600));
    // A run holds liveUser's row version in memory while the migration rewrites the row.
    expect((await encrypted.client.getToken(ref(encrypted, liveUser))).accessToken).toBe(grants.get(liveUser)!.accessToken);
    const users = [plainUser, oldUser, liveUser];
    const before = await rawRows(encrypted, providerId, users);
    expect(tokensIn(encrypted, before).length).toBe(4);

    const args = ['db', 'encrypt-tokens', '--provider', providerId, '--json'];
    const dry = await runCli([...args, '--dry-run'], cliEnv);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, keyId: 'db-new', encrypted: 2, reencrypted: 1, unknownKeys: {} });
    expect(await rawRows(encrypted, providerId, users)).toEqual(before);

    const run = await runCli(args, cliEnv);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ dryRun: false, encrypted: 2, reencrypted: 1, changedMeanwhile: 0, unknownKeys: {} });
    expect(report.current).toBe(report.scanned - 3);
    const after = await rawRows(encrypted, providerId, users);
    expect(tokensIn(encrypted, after)).toEqual([]);
    for (const [i, r] of after.entries()) {
      expect([r.oauth_access_token_key_id, r.oauth_refresh_token_key_id]).toEqual(['db-new', 'db-new']);
      expect(r.token_version).toBe(before[i]!.token_version); // same tokens: the version is not bumped
    }

    const again = await runCli(args.slice(0, -1), cliEnv); // idempotent; and the human-readable summary
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(
      `${report.scanned} rows scanned (provider ${providerId}); encrypted 0 plaintext, re-encrypted 0 from older keys, ${report.scanned} already under key "db-new"`,
    );

    // The workflow still serves: expired rows refresh with the refresh token read from the migrated row...
    for (const user of [plainUser, oldUser]) {
      const served = await encrypted.client.getToken(ref(encrypted, user));
      expect(served.accessToken).not.toBe(grants.get(user)!.accessToken);
      expect(encrypted.provider.isAccessTokenValid(served.accessToken)).toBe(true);
      expect(tokenCalls(encrypted, user)).toBe(1);
    }
    // ...and the run that read liveUser's row before the migration still writes its rotation (no adoption, no lost token).
    // The provider ends the token the run handed out, so the forced refresh replaces it at once (test/told-expiry.test.ts).
    encrypted.provider.revokeAccessToken(grants.get(liveUser)!.accessToken);
    const status = await encrypted.client.refresh(ref(encrypted, liveUser));
    expect(status.counters).toMatchObject({ exchanges: 1, adoptedFromRow: 0 });
    const row = await encrypted.row(liveUser);
    expect(row.refreshToken).toBe(encrypted.provider.liveRefreshToken(liveUser));
    expect((await encrypted.client.getToken(ref(encrypted, liveUser))).accessToken).toBe(row.accessToken);
    expect(tokensIn(encrypted, await rawRows(encrypted, providerId, users))).toEqual([]);
  }, 150_000); // three CLI processes on a shared machine

  it('`db encrypt-tokens` leaves rows under unknown keys alone and says which keys are missing; needs EXTAUTH_DB_KEY', async () => {
    const orphan: LinkKey = { providerId: `orphan-${randomBytes(4).toString('hex')}`, userId: 'u1' };
    await putLink(encrypted.pool, orphan, asTokenSet(encrypted.provider.issueGrant({ familyId: 'orphan' }), 3600), strayCipher);
    const result = await runCli(['db', 'encrypt-tokens', '--provider', orphan.providerId, '--json'], cliEnv);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ scanned: 1, encrypted: 0, reencrypted: 0, unknownKeys: { 'db-stray': 1 } });
    expect(result.stderr).toContain('"db-stray" (1 row)');
    expect((await getLink(encrypted.pool, orphan, strayCipher))?.accessTokenKeyId).toBe('db-stray');

    const { EXTAUTH_DB_KEY: _current, EXTAUTH_DB_DECRYPT_KEYS: _older, ...noKey } = cliEnv;
    const missing = await runCli(['db', 'encrypt-tokens', '--provider', orphan.providerId], noKey);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('extauth db encrypt-tokens stores or reads OAuth tokens and refuses to keep them in plaintext: set EXTAUTH_DB_KEY');
    const optedOut = await runCli(['db', 'encrypt-tokens', '--provider', orphan.providerId], { ...noKey, EXTAUTH_DB_PLAINTEXT: 'allow' });
    expect(optedOut.code).toBe(1);
    expect(optedOut.stderr).toContain('needs the key to encrypt with: set EXTAUTH_DB_KEY');
  }, 120_000);

  it('a row under a key the worker lacks fails the request at once with the key id, and the workflow keeps working', async () => {
    const user = uniqueUser('stray');
    const key = encrypted.key(user);
    await putLink(encrypted.pool, key, asTokenSet(encrypted.provider.issueGrant({ familyId: user }), -5), strayCipher);

    const started = Date.now();
    const err = await agentError(encrypted.client.getToken(ref(encrypted, user)));
    expect(Date.now() - started).toBeLessThan(10_000); // not retried for the load budget (60 s)
    expect(err.code).toBe('provider_unavailable');
    expect(err.reason).toMatch(/encrypted with database key "db-stray", which is not configured.*EXTAUTH_DB_DECRYPT_KEYS/);
    expect(tokenCalls(encrypted, user)).toBe(0);
    expect(logLines.some((line) => line.includes('stored token cannot be decrypted') && line.includes('"keyId":"db-stray"'))).toBe(true);

    // The same for a run that already holds the link: the exchange reads the row and fails before calling the provider.
    const live = uniqueUser('stray-live');
    await encrypted.seedLink(live);
    const held = await encrypted.client.getToken(ref(encrypted, live));
    encrypted.provider.revokeAccessToken(held.accessToken); // so the forced refresh below exchanges instead of waiting for the told expiry
    await encrypted.pool.query(
      `UPDATE external_auth_links SET oauth_refresh_token = $3, oauth_refresh_token_key_id = $4 WHERE provider_id = $1 AND user_id = $2`,
      [encrypted.providerId, live, strayCipher.seal('x', 'elsewhere').value, 'db-stray'],
    );
    const refreshErr = await agentError(encrypted.client.refresh(ref(encrypted, live)));
    expect(refreshErr.reason).toContain('database key "db-stray"');
    expect(tokenCalls(encrypted, live)).toBe(0);

    // No workflow task failed (no replay loop); after a re-link the same run serves again.
    const { history } = await encrypted.temporal.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId: linkWorkflowId(key) },
    });
    const events = history?.events ?? [];
    expect(events.length).toBeGreaterThan(0);
    expect(events.filter((e) => e.eventType === proto.temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)).toEqual([]);
    const fresh = encrypted.provider.issueGrant({ familyId: user });
    await putLink(encrypted.pool, key, asTokenSet(fresh, 3600), cipher);
    await encrypted.client.relinked(ref(encrypted, user));
    expect((await encrypted.client.getToken(ref(encrypted, user))).accessToken).toBe(fresh.accessToken);
  });
});

/** A token endpoint answer as `link put --tokens-from` reads it, with an OpenID id_token among the extra fields. */
function tokenAnswer(grant: Grant, idToken: string): string {
  return JSON.stringify({
    access_token: grant.accessToken,
    refresh_token: grant.refreshToken,
    expires_in: 3600,
    refresh_token_expires_in: 15_897_600,
    token_type: 'bearer',
    scope: 'repo openid',
    id_token: idToken,
  });
}
const fakeIdToken = () => `eyJhbGciOiJSUzI1NiJ9.${randomBytes(48).toString('base64url')}.${randomBytes(32).toString('base64url')}`;

/** A data folder as a running `extauth dev` leaves it: dev.json (0600) naming the run's Temporal, Postgres and keys. */
function devDataDir(world: World): string {
  const dir = mkdtempSync(join(tmpdir(), 'extauth-dev-beside-'));
  const dbKeyFile = join(dir, 'db.key');
  const codecKeyFile = join(dir, 'codec.key');
  writeFileSync(dbKeyFile, `${inject('dbKey')}\n`, { mode: 0o600 });
  writeFileSync(codecKeyFile, `${inject('codecKey')}\n`, { mode: 0o600 });
  const published: DevEndpoints = {
    temporalAddress: inject('temporalAddress'),
    namespace: 'default',
    taskQueue: world.taskQueue,
    uiUrl: null,
    databaseUrl: inject('databaseUrl'),
    providersFile: null,
    codecKeyFile,
    dbKeyFile,
  };
  const file = devEndpointsFile(dir);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, JSON.stringify(published), { mode: 0o600 });
  return dir;
}

describe('the rotation journal at rest (pending_rotation)', () => {
  /** The journal's columns exactly as Postgres stores them. */
  const rawJournal = async (world: World, user: string) =>
    (
      await world.pool.query<{ pending_rotation: string | null; pending_rotation_key_id: string | null }>(
        'SELECT pending_rotation, pending_rotation_key_id FROM external_auth_links WHERE provider_id = $1 AND user_id = $2',
        [world.providerId, user],
      )
    ).rows[0]!;
  /** An exchange's answer as the exchange journals it, with an id_token among the provider's other fields. */
  async function journal(world: World, user: string, journalCipher: TokenCipher | undefined) {
    await world.seedLink(user);
    const answer = { ...asTokenSet(world.provider.issueGrant({ familyId: user }), 3600), extra: { id_token: `idt-${randomBytes(8).toString('hex')}` } };
    expect(await writePendingRotation(world.pool, world.key(user), (await world.row(user)).tokenVersion, answer, journalCipher)).toBe(true);
    return answer;
  }
  const secretsOf = (answer: TokenSet) => [answer.accessToken, answer.refreshToken, String(answer.extra.id_token)];

  it('holds no token of the answer in the raw table, only ciphertext under the current key, bound to its row', async () => {
    const user = uniqueUser('journal-enc');
    const answer = await journal(encrypted, user, cipher);
    const raw = await rawJournal(encrypted, user);
    expect(secretsOf(answer).filter((secret) => raw.pending_rotation!.includes(secret))).toEqual([]);
    expect(raw.pending_rotation_key_id).toBe('db-new');
    expect(raw.pending_rotation).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect((await encrypted.row(user)).pendingRotation?.tokens).toEqual(answer); // the store decrypts it
    // Bound to its row: copied into another row's journal it does not decrypt.
    const other = uniqueUser('journal-enc');
    await journal(encrypted, other, cipher);
    await encrypted.pool.query(
      `UPDATE external_auth_links t SET pending_rotation = s.pending_rotation FROM external_auth_links s
       WHERE t.provider_id = $1 AND t.user_id = $2 AND s.provider_id = $1 AND s.user_id = $3`,
      [encrypted.providerId, other, user],
    );
    await expect(encrypted.row(other)).rejects.toThrow(/pending rotation .* of link .* does not decrypt with database key "db-new"/);
  });

  it('`db encrypt-tokens` (reencryptStoredTokens) brings a journal under the current key, so the old key can go (control: before, only the old key reads it)', async () => {
    const key: LinkKey = { providerId: `journal-reenc-${randomBytes(4).toString('hex')}`, userId: 'u1' };
    const grant = encrypted.provider.issueGrant({ familyId: `${key.providerId}-grant` });
    await putLink(encrypted.pool, key, asTokenSet(grant, 3600), oldCipher);
    const answer = asTokenSet(encrypted.provider.issueGrant({ familyId: `${key.providerId}-answer` }), 3600);
    await writePendingRotation(encrypted.pool, key, (await getLink(encrypted.pool, key, oldCipher))!.tokenVersion, answer, oldCipher);
    const newKeyOnly = new TokenCipher(currentKey);
    await expect(getLink(encrypted.pool, key, newKeyOnly)).rejects.toThrow(/database key "db-old", which is not configured/);

    expect(await reencryptStoredTokens(encrypted.pool, cipher, { providerId: key.providerId })).toMatchObject({ scanned: 1, reencrypted: 1 });

    const row = await getLink(encrypted.pool, key, newKeyOnly);
    expect(row?.pendingRotation?.tokens).toEqual(answer);
    const { rows } = await encrypted.pool.query('SELECT pending_rotation_key_id FROM external_auth_links WHERE provider_id = $1 AND user_id = $2', [key.providerId, key.userId]);
    expect(rows[0].pending_rotation_key_id).toBe('db-new');
  });

  it('control: without a key the same raw check finds the answer\'s tokens and id_token; strict mode refuses such a journal', async () => {
    const user = uniqueUser('journal-plain');
    const answer = await journal(plaintext, user, undefined);
    const raw = await rawJournal(plaintext, user);
    expect(secretsOf(answer).filter((secret) => raw.pending_rotation!.includes(secret))).toEqual(secretsOf(answer));
    expect(raw.pending_rotation_key_id).toBeNull();

    const strictUser = uniqueUser('journal-strict');
    await journal(strict, strictUser, undefined); // written by a process without the key
    await expect(strict.row(strictUser)).rejects.toThrow(/pending rotation .* of link .* is stored in plaintext and EXTAUTH_DB_STRICT refuses plaintext rows/);
    // Not left for the strict-mode tests below, whose `db encrypt-tokens` counts the plaintext rows of this provider.
    await strict.pool.query('DELETE FROM external_auth_links WHERE provider_id = $1 AND user_id = $2', [strict.providerId, strictUser]);
  });
});

describe('encrypted by default', () => {
  it('`link put --tokens-from` beside a running dev (key found through dev.json, no EXTAUTH_DB_KEY): the raw table holds no token and no id_token', async () => {
    const user = uniqueUser('default-put');
    const grant = defaults.provider.issueGrant({ familyId: user });
    const idToken = fakeIdToken();
    const answerFile = join(mkdtempSync(join(tmpdir(), 'extauth-answer-')), 'answer.json');
    writeFileSync(answerFile, tokenAnswer(grant, idToken), { mode: 0o600 });
    const put = await runCli(['link', 'put', '--provider', defaults.providerId, '--user', user, '--tokens-from', answerFile], { EXTAUTH_DATA_DIR: devDataDir(defaults) });
    expect(put.code, put.stderr).toBe(0);
    expect(put.stderr).toBe('');

    const [raw] = await rawRows(defaults, defaults.providerId, [user]);
    expect(tokensIn(defaults, [raw!], [idToken])).toEqual([]);
    expect([raw!.oauth_access_token_key_id, raw!.oauth_refresh_token_key_id, raw!.oauth_extra_key_id]).toEqual(['test-db', 'test-db', 'test-db']);
    // Through the store (the worker's key) the extra fields are all there, and the workflow serves the token.
    const row = await defaults.row(user);
    expect(row.extra).toMatchObject({ id_token: idToken, scope: 'repo openid', token_type: 'bearer' });
    expect(row.refreshTokenExpiry).not.toBeNull();
    expect((await defaults.client.getToken(ref(defaults, user))).accessToken).toBe(grant.accessToken);
  }, 120_000);

  it('a worker with no cipher configured in code persists refreshed tokens and their extra fields encrypted', async () => {
    const user = uniqueUser('default-persist');
    const served = await refreshTwice(defaults, user);
    const [raw] = await rawRows(defaults, defaults.providerId, [user]);
    expect(tokensIn(defaults, [raw!])).toEqual([]);
    expect([raw!.oauth_access_token_key_id, raw!.oauth_refresh_token_key_id, raw!.oauth_extra_key_id]).toEqual(['test-db', 'test-db', 'test-db']);
    expect(JSON.parse(raw!.oauth_extra!)).toMatch(/^[A-Za-z0-9+/]+=*$/); // a JSON string of ciphertext, not the answer's fields
    expect((await defaults.row(user)).accessToken).toBe(served);
  });

  it('control: with the explicit opt-out EXTAUTH_DB_PLAINTEXT=allow the same raw check finds the tokens and the id_token', async () => {
    const user = uniqueUser('optout-put');
    const grant = plaintext.provider.issueGrant({ familyId: user });
    const idToken = fakeIdToken();
    const { EXTAUTH_DB_KEY: _key, ...noKey } = operatorEnv(plaintext.taskQueue, mkdtempSync(join(tmpdir(), 'extauth-optout-')));
    const put = await runCli(['link', 'put', '--provider', plaintext.providerId, '--user', user, '--tokens-from', '-'], { ...noKey, EXTAUTH_DB_PLAINTEXT: 'allow' }, { stdin: tokenAnswer(grant, idToken) });
    expect(put.code, put.stderr).toBe(0);
    const [raw] = await rawRows(plaintext, plaintext.providerId, [user]);
    expect(tokensIn(plaintext, [raw!], [idToken])).toEqual(expect.arrayContaining([grant.accessToken, grant.refreshToken, idToken]));
    expect([raw!.oauth_access_token_key_id, raw!.oauth_extra_key_id]).toEqual([null, null]);

    // ...and without the opt-out (and without a key) `link put` refuses, saying both ways out; nothing is written.
    const other = uniqueUser('nokey-put');
    const refused = await runCli(['link', 'put', '--provider', plaintext.providerId, '--user', other, '--tokens-from', '-'], noKey, { stdin: tokenAnswer(plaintext.provider.issueGrant({ familyId: other }), fakeIdToken()) });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/extauth link put stores or reads OAuth tokens and refuses to keep them in plaintext: set EXTAUTH_DB_KEY=.*EXTAUTH_DB_PLAINTEXT=allow/);
    const { rowCount } = await plaintext.pool.query('SELECT 1 FROM external_auth_links WHERE provider_id = $1 AND user_id = $2', [plaintext.providerId, other]);
    expect(rowCount).toBe(0);
  }, 120_000);

  it('`extauth worker` refuses to start without EXTAUTH_DB_KEY, naming both options (control: with the opt-out it gets past the key check)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'extauth-worker-nokey-'));
    const providersFile = join(dir, 'providers.json');
    writeFileSync(providersFile, JSON.stringify([{ id: 'gh', type: 'github', clientId: 'x', clientSecret: 'y', tokenUrl: 'https://github.example/token' }]), { mode: 0o600 });
    const { EXTAUTH_DB_KEY: _key, ...noKey } = operatorEnv(defaults.taskQueue, dir);
    const refused = await runCli(['worker'], { ...noKey, EXTAUTH_PROVIDERS: providersFile });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('extauth worker stores or reads OAuth tokens and refuses to keep them in plaintext: set EXTAUTH_DB_KEY=');
    expect(refused.stderr).toContain('or, to store tokens in plaintext knowingly, set EXTAUTH_DB_PLAINTEXT=allow');
    expect(refused.stderr).not.toMatch(/unexpected error|\n\s+at /);

    // The same command with the opt-out passes the key check and stops at the next one (a broken providers file).
    writeFileSync(providersFile, '{oops');
    const optedOut = await runCli(['worker'], { ...noKey, EXTAUTH_PROVIDERS: providersFile, EXTAUTH_DB_PLAINTEXT: 'allow' });
    expect(optedOut.code).toBe(1);
    expect(optedOut.stderr).not.toContain('EXTAUTH_DB_KEY');
    expect(optedOut.stderr).toMatch(/JSON|parse/i);
  }, 60_000);

  it('the rule: EXTAUTH_DB_KEY, else the dev key file, else only the explicit opt-out; strict with the opt-out is refused', () => {
    expect(() => tokenCipherForProcess({}, 'p')).toThrow(ConfigError);
    expect(tokenCipherForProcess({ EXTAUTH_DB_PLAINTEXT: 'allow' }, 'p')).toBeUndefined();
    expect(() => tokenCipherForProcess({ EXTAUTH_DB_PLAINTEXT: 'yes' }, 'p')).toThrow(/EXTAUTH_DB_PLAINTEXT/);
    expect(() => tokenCipherForProcess({ EXTAUTH_DB_PLAINTEXT: 'allow', EXTAUTH_DB_STRICT: '1' }, 'p')).toThrow(/EXTAUTH_DB_STRICT refuses plaintext/);
    expect(tokenCipherForProcess({ EXTAUTH_DB_KEY: formatCodecKey(currentKey), EXTAUTH_DB_PLAINTEXT: 'allow' }, 'p')?.currentKeyId).toBe('db-new');
    const dir = mkdtempSync(join(tmpdir(), 'extauth-devkey-'));
    writeFileSync(join(dir, 'db.key'), `${formatCodecKey(oldKey)}\n`, { mode: 0o600 });
    expect(tokenCipherForProcess({}, 'p', join(dir, 'db.key'))?.currentKeyId).toBe('db-old');
    expect(tokenCipherForProcess({ EXTAUTH_DB_KEY: formatCodecKey(currentKey) }, 'p', join(dir, 'db.key'))?.currentKeyId).toBe('db-new');
    expect(() => tokenCipherForProcess({}, 'p', join(dir, 'missing.key'))).toThrow(ConfigError);
    expect(tokenCipherForProcess({ EXTAUTH_DB_KEY: formatCodecKey(currentKey), EXTAUTH_DB_STRICT: '1' }, 'p')?.rejectPlaintext).toBe(true);
  });
});

describe('strict mode (EXTAUTH_DB_STRICT=1)', () => {
  it('refuses a plaintext row with a clear failure and a structured log naming provider, link and cause; serves it once encrypted', async () => {
    const user = uniqueUser('strict');
    const grant = strict.provider.issueGrant({ familyId: user });
    await putLink(strict.pool, strict.key(user), asTokenSet(grant, 3600)); // no cipher: as written before encryption

    const err = await agentError(strict.client.getToken(ref(strict, user)));
    expect(err.code).toBe('provider_unavailable');
    expect(err.reason).toMatch(/access token of link .* is stored in plaintext and EXTAUTH_DB_STRICT refuses plaintext rows; run `extauth db encrypt-tokens`/);
    expect(err.reason).not.toContain(grant.accessToken);
    const logged = logLines.filter((line) => line.includes('EXTAUTH_DB_STRICT refuses it') && line.includes(user));
    expect(logged.length).toBeGreaterThan(0);
    expect(JSON.parse(logged[0]!)).toMatchObject({ provider: strict.providerId, link: user, keyId: null, cause: expect.stringContaining('stored in plaintext') });
    expect(tokenCalls(strict, user)).toBe(0);
    // Control: the same row is served by a non-strict reader of the same key...
    expect((await getLink(strict.pool, strict.key(user), tokenCipherForProcess({ EXTAUTH_DB_KEY: inject('dbKey') }, 'p')))?.accessToken).toBe(grant.accessToken);
    // ...and by the strict worker once `db encrypt-tokens` has encrypted it.
    const migrate = await runCli(['db', 'encrypt-tokens', '--provider', strict.providerId, '--json'], operatorEnv(strict.taskQueue, mkdtempSync(join(tmpdir(), 'extauth-strict-'))));
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(JSON.parse(migrate.stdout)).toMatchObject({ encrypted: 1 });
    expect((await strict.client.getToken(ref(strict, user))).accessToken).toBe(grant.accessToken);
  }, 120_000);

  it('refuses a row whose tokens are encrypted but whose oauth_extra is still plaintext', async () => {
    const user = uniqueUser('strict-extra');
    await strict.seedLink(user);
    await strict.pool.query(`UPDATE external_auth_links SET oauth_extra = '{"id_token":"x"}'::jsonb, oauth_extra_key_id = NULL WHERE provider_id = $1 AND user_id = $2`, [
      strict.providerId,
      user,
    ]);
    await expect(strict.row(user)).rejects.toThrow(/extra token fields \(oauth_extra\) of link .* stored in plaintext/);
  });
});
