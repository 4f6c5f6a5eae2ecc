// The rotation journal in the store (store/links.ts writePendingRotation): an exchange's answer written to the row
// before the exchange returns applies only to the row version whose refresh token was exchanged. Every write that
// moves the row on (a re-link, persist, a recorded failure) clears it in the same UPDATE, and a journal left over
// from an older version is never read, so a stale pending rotation can never override newer tokens.
// The kill tests are in test/faults/process-kills.test.ts ("exchange-answered …").
import { describe, expect, it } from 'vitest';
import type { TokenSet } from '../core/types.js';
import type { Grant } from '../dev/fake-provider.js';
import { deleteLinkRow, putLink, writePendingRotation, writeRefreshFailure, writeRotatedTokens } from '../store/links.js';
import { until } from './support/helpers.js';
import { logLines, uniqueUser, useWorld } from './support/world.js';

const world = useWorld();

const asTokenSet = (grant: Grant): TokenSet => ({
  accessToken: grant.accessToken,
  refreshToken: grant.refreshToken,
  tokenType: 'bearer',
  expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
  refreshTokenExpiresAt: null,
  extra: { expires_in: grant.expiresIn },
});

async function journalColumns(user: string) {
  const { rows } = await world.pool.query(
    `SELECT token_version, pending_rotation, pending_rotation_key_id, pending_rotation_version, pending_rotation_at
     FROM external_auth_links WHERE provider_id = $1 AND user_id = $2`,
    [world.providerId, user],
  );
  return rows[0] as { token_version: string; pending_rotation: string | null; pending_rotation_key_id: string | null; pending_rotation_version: string | null; pending_rotation_at: Date | null };
}

describe('the rotation journal in the store', () => {
  it('a journal is read for the version it exchanged, with the tokens the provider answered', async () => {
    const user = uniqueUser('journal-read');
    await world.seedLink(user);
    const before = await world.row(user);
    const answer = asTokenSet(world.provider.issueGrant({ familyId: user }));

    expect(await writePendingRotation(world.pool, world.key(user), before.tokenVersion, answer, world.cipher)).toBe(true);

    const row = await world.row(user);
    expect(row.tokenVersion).toBe(before.tokenVersion); // the row's tokens are unchanged until it is applied
    expect(row.refreshToken).toBe(before.refreshToken);
    expect(row.pendingRotation?.version).toBe(before.tokenVersion);
    expect(row.pendingRotation?.tokens).toEqual(answer);
    expect(row.pendingRotation?.at).toBeInstanceOf(Date);
  });

  it('a re-link supersedes a journal: it is never applied over the re-linked row (control: without the version check it would be)', async () => {
    const user = uniqueUser('journal-relink');
    await world.seedLink(user);
    const exchanged = await world.row(user);
    const answer = asTokenSet(world.provider.issueGrant({ familyId: user }));
    await writePendingRotation(world.pool, world.key(user), exchanged.tokenVersion, answer, world.cipher);
    const journaled = await journalColumns(user);

    // The user re-links (link put / login) before anyone applied the journal.
    const relinked = asTokenSet(world.provider.issueGrant({ familyId: `${user}-new` }));
    await putLink(world.pool, world.key(user), relinked, world.cipher);

    const cleared = await journalColumns(user);
    expect([cleared.pending_rotation, cleared.pending_rotation_key_id, cleared.pending_rotation_version, cleared.pending_rotation_at]).toEqual([null, null, null, null]);
    expect((await world.row(user)).pendingRotation).toBeNull();
    // A reader still holding the journal of the old row applies it compare-and-set on the version it exchanged: nothing is written.
    expect(await writeRotatedTokens(world.pool, world.key(user), exchanged.tokenVersion, answer, world.cipher)).toBeUndefined();
    // An exchange answered after the re-link cannot journal onto the re-linked row either (it adopts the row instead).
    expect(await writePendingRotation(world.pool, world.key(user), exchanged.tokenVersion, answer, world.cipher)).toBe(false);

    // A journal of the old version left on the row (a writer that forgot to clear it) is still never read...
    await world.pool.query(
      `UPDATE external_auth_links SET pending_rotation = $3, pending_rotation_key_id = $4, pending_rotation_version = $5, pending_rotation_at = $6
       WHERE provider_id = $1 AND user_id = $2`,
      [world.providerId, user, journaled.pending_rotation, journaled.pending_rotation_key_id, journaled.pending_rotation_version, journaled.pending_rotation_at],
    );
    const row = await world.row(user);
    expect(row.pendingRotation).toBeNull();
    expect(row.refreshToken).toBe(relinked.refreshToken);

    // Control: the same stale journal read without the version check (its version taken as the row's) overrides the re-link.
    await world.pool.query(`UPDATE external_auth_links SET pending_rotation_version = token_version WHERE provider_id = $1 AND user_id = $2`, [world.providerId, user]);
    const unchecked = await world.row(user);
    expect(unchecked.pendingRotation?.tokens.refreshToken).toBe(answer.refreshToken);
    expect(unchecked.pendingRotation?.tokens.refreshToken).not.toBe(relinked.refreshToken);
  });

  it('persist and a recorded failure clear the journal in the same UPDATE; delete removes it with the row', async () => {
    const user = uniqueUser('journal-clear');
    await world.seedLink(user);
    let row = await world.row(user);
    const answer = asTokenSet(world.provider.issueGrant({ familyId: user }));
    await writePendingRotation(world.pool, world.key(user), row.tokenVersion, answer, world.cipher);
    const persisted = await writeRotatedTokens(world.pool, world.key(user), row.tokenVersion, answer, world.cipher);
    expect(persisted?.pendingRotation).toBeNull();
    expect((await journalColumns(user)).pending_rotation).toBeNull();

    row = await world.row(user);
    await writePendingRotation(world.pool, world.key(user), row.tokenVersion, asTokenSet(world.provider.issueGrant({ familyId: user })), world.cipher);
    expect((await journalColumns(user)).pending_rotation).not.toBeNull();
    const failed = await writeRefreshFailure(world.pool, world.key(user), row.tokenVersion, 'refused', world.cipher);
    expect(failed?.pendingRotation).toBeNull();
    expect((await journalColumns(user)).pending_rotation).toBeNull();

    row = await world.row(user);
    await writePendingRotation(world.pool, world.key(user), row.tokenVersion, asTokenSet(world.provider.issueGrant({ familyId: user })), world.cipher);
    expect(await deleteLinkRow(world.pool, world.key(user), row.tokenVersion)).toBe('deleted');
    expect(await journalColumns(user)).toBeUndefined();
  });
});

describe('a journal found by the workflow', () => {
  const tokenCalls = (user: string) => world.provider.stats.tokenCallsByFamily.get(user) ?? 0;
  const journaledLines = (user: string) => logLines.filter((line) => line.includes(user) && line.includes('"outcome":"journaled"'));
  const get = (user: string) => world.client.getToken({ provider: world.providerId, user, minValidSeconds: 60 });
  const journalCount = async (outcome: string) =>
    (await world.metrics.rotationJournal.get()).values.find((v) => v.labels.provider === world.providerId && v.labels.outcome === outcome)?.value ?? 0;
  /** What an exchange killed after its journal write leaves: the provider rotated, the answer is only on the row. */
  async function killedAfterJournal(user: string) {
    const row = await world.row(user);
    const answer = asTokenSet(world.provider.issueGrant({ familyId: user }));
    await writePendingRotation(world.pool, world.key(user), row.tokenVersion, answer, world.cipher);
    return answer;
  }

  it("a run's first step returns the journaled answer without calling the provider: served, row == provider's live token, one line (control: without a journal it exchanges)", async () => {
    const user = uniqueUser('journal-first');
    await world.seedLink(user, { expiresInSeconds: -10 });
    const answer = await killedAfterJournal(user);
    const [usedBefore, writtenBefore] = [await journalCount('used'), await journalCount('written')];

    const token = await get(user);

    expect(token.accessToken).toBe(answer.accessToken);
    expect(await journalCount('used')).toBe(usedBefore + 1);
    expect(await journalCount('written')).toBe(writtenBefore); // no exchange: nothing new to journal
    expect(tokenCalls(user)).toBe(0);
    const row = await world.row(user);
    expect(row.refreshToken).toBe(world.provider.liveRefreshToken(user));
    expect(row.refreshToken).toBe(answer.refreshToken);
    expect(row.pendingRotation).toBeNull();
    expect(journaledLines(user)).toHaveLength(1);
    expect(journaledLines(user)[0]).not.toContain(answer.refreshToken);

    const control = uniqueUser('journal-first');
    await world.seedLink(control, { expiresInSeconds: -10 });
    const usedBeforeControl = await journalCount('used');
    await get(control);
    expect(tokenCalls(control)).toBe(1);
    expect(journaledLines(control)).toEqual([]);
    expect(await journalCount('used')).toBe(usedBeforeControl);
    expect(await journalCount('written')).toBe(writtenBefore + 1); // its own exchange's answer, journaled before persist
  });

  it('loadLink (a relinked signal to an open run) applies a journal of the row it reads instead of serving its dead tokens', async () => {
    const user = uniqueUser('journal-load');
    const seeded = await world.seedLink(user);
    expect((await get(user)).accessToken).toBe(seeded.accessToken); // the run is open and holds the row
    const answer = await killedAfterJournal(user);

    await world.client.relinked({ provider: world.providerId, user });
    await until(async () => (await world.row(user)).pendingRotation === null, 30_000, 'the run applied the journal');

    const row = await world.row(user);
    expect(row.refreshToken).toBe(answer.refreshToken);
    expect(row.pendingRotation).toBeNull();
    expect((await get(user)).accessToken).toBe(answer.accessToken);
    expect(tokenCalls(user)).toBe(0);
    expect(journaledLines(user)).toHaveLength(1);
  });
});

