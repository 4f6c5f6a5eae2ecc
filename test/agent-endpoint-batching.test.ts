// The agent endpoint's key lookups and audit writes, batched per event-loop turn (agent-api/batch.ts): batching must
// not change who gets a token. Each key is judged on its own (a revoked or unknown key among valid ones in the same
// burst is refused), a revocation counts for every request after it, every token served has its own audit row, and a
// token is handed out only once its row is committed: a row the database refuses fails only its own request.
// Real Temporal and Postgres; the refusal of a row is a real Postgres trigger.
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchedPerTurn } from '../agent-api/batch.js';
import { listenAgentEndpoint, type RunningAgentEndpoint } from '../agent-api/listen.js';
import { createAgentRequestCounter } from '../agent-api/metrics.js';
import { createLogger } from '../config/logger.js';
import { authenticateAgentKey, authenticateAgentKeys, createAgentKey, revokeAgentKey } from '../store/agent-keys.js';
import { listAudit, recordAudits, type AuditEntry } from '../store/audit.js';
import { logLines, uniqueUser, useWorld } from './support/world.js';

const LONG = 120_000;
const world = useWorld();
let endpoint: RunningAgentEndpoint;

beforeAll(async () => {
  const logger = createLogger({ write: (line: string) => void logLines.push(line) }, 'debug');
  endpoint = await listenAgentEndpoint(
    { pool: world.pool, client: world.client, logger, requests: createAgentRequestCounter(world.metrics.registry), providers: [{ id: world.providerId, type: 'github', hosts: [] }] },
    { port: 0, host: '127.0.0.1' },
  );
}, LONG);

afterAll(async () => {
  await endpoint?.close();
});

const postToken = (user: string, key: string) =>
  request(`${endpoint.url}/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ provider: world.providerId, user }),
  }).then(async (r) => ({ status: r.statusCode, body: JSON.parse(await r.body.text()) as { accessToken?: string; error?: string } }));

/** A trigger that makes Postgres refuse every audit row of `user` (a real failure of the INSERT, as a full disk would be). */
async function refuseAuditRowsOf(user: string): Promise<() => Promise<void>> {
  const name = `refuse_audit_${randomBytes(4).toString('hex')}`;
  await world.pool.query(`
    CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.user_id = '${user}' THEN RAISE EXCEPTION 'audit row refused by the test'; END IF;
      RETURN NEW;
    END $$`);
  await world.pool.query(`CREATE TRIGGER ${name} BEFORE INSERT ON token_audit FOR EACH ROW EXECUTE FUNCTION ${name}()`);
  return async () => {
    await world.pool.query(`DROP TRIGGER ${name} ON token_audit`);
    await world.pool.query(`DROP FUNCTION ${name}()`);
  };
}

const served = (user: string, keyId: string): Omit<AuditEntry, 'servedAt'> => ({
  keyId,
  keyName: '',
  providerId: world.providerId,
  userId: user,
  tokenFingerprint: '000000000000',
  outcome: 'served',
});

describe('key lookups batched', () => {
  it('one query for many keys judges each key on its own: revoked, forged, expired and unparsable keys among valid ones', async () => {
    const user = uniqueUser('lookup');
    const make = (opts: { ttlSeconds?: number } = {}) => createAgentKey(world.pool, { providerId: world.providerId, userId: user, ...opts });
    const [valid1, valid2, revoked, expired] = await Promise.all([make(), make(), make(), make({ ttlSeconds: 0 })]);
    await revokeAgentKey(world.pool, revoked!.info.id);
    const forged = `eak_${valid1!.info.id}_${randomBytes(32).toString('base64url')}`;
    const keys = [valid1!.key, revoked!.key, forged, valid2!.key, 'not-a-key', expired!.key];
    const expected = [
      { ok: true, scope: { keyId: valid1!.info.id, keyName: '', providerId: world.providerId, userId: user } },
      { ok: false, refusal: 'revoked', keyId: revoked!.info.id },
      { ok: false, refusal: 'unknown', keyId: valid1!.info.id },
      { ok: true, scope: { keyId: valid2!.info.id, keyName: '', providerId: world.providerId, userId: user } },
      { ok: false, refusal: 'unparsable', keyId: undefined },
      { ok: false, refusal: 'expired', keyId: expired!.info.id },
    ];
    expect(await authenticateAgentKeys(world.pool, keys)).toEqual(expected);
    // The same through the endpoint's per-turn batching (called in one turn: one batch), and one key at a time.
    const batched = batchedPerTurn((many: string[]) => authenticateAgentKeys(world.pool, many));
    expect(await Promise.all(keys.map((k) => batched(k)))).toEqual(expected);
    expect(await Promise.all(keys.map((k) => authenticateAgentKey(world.pool, k)))).toEqual(expected);
  }, LONG);

  it('through the endpoint, a burst of agents: valid keys served, a key revoked just before and a forged key refused; each token served has its own audit row', async () => {
    const user = uniqueUser('burst');
    await world.seedLink(user, { expiresInSeconds: -5 });
    const keys = await Promise.all(Array.from({ length: 6 }, (_, i) => createAgentKey(world.pool, { providerId: world.providerId, userId: user, name: `agent-${i}` })));
    const revoked = await createAgentKey(world.pool, { providerId: world.providerId, userId: user, name: 'revoked' });
    const forged = `eak_${revoked.info.id}_${randomBytes(32).toString('base64url')}`;

    // Control: before its revocation the key works like the others.
    expect((await postToken(user, revoked.key)).status).toBe(200);
    expect(await revokeAgentKey(world.pool, revoked.info.id)).toBe(true);

    const answers = await Promise.all([...keys.map((k) => postToken(user, k.key)), postToken(user, revoked.key), postToken(user, forged)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200, 403, 403]);
    expect(answers[6]!.body).toMatchObject({ error: 'forbidden' });
    expect(answers.slice(6).every((a) => a.body.accessToken === undefined)).toBe(true);
    expect(new Set(answers.slice(0, 6).map((a) => a.body.accessToken)).size).toBe(1);
    expect(world.provider.stats.tokenCallsByFamily.get(user)).toBe(1);

    const audit = await listAudit(world.pool, { providerId: world.providerId, userId: user });
    const servedKeyIds = audit.filter((e) => e.outcome === 'served').map((e) => e.keyId);
    // The revoked key's one token before its revocation, then one row per key of the burst.
    expect(servedKeyIds.sort()).toEqual([revoked.info.id, ...keys.map((k) => k.info.id)].sort());
    expect(audit.filter((e) => e.outcome === 'forbidden').map((e) => e.keyId)).toEqual([revoked.info.id, revoked.info.id]);
  }, LONG);
});

describe('audit writes batched', () => {
  it('a row the database refuses fails only its own write; in one INSERT it would take the whole batch with it (control)', async () => {
    const healthy = uniqueUser('healthy');
    const refused = uniqueUser('refused');
    const stopRefusing = await refuseAuditRowsOf(refused);
    try {
      const record = batchedPerTurn(async (entries: Omit<AuditEntry, 'servedAt'>[]) => {
        await recordAudits(world.pool, entries);
        return entries.map(() => undefined);
      });
      // Called in the same turn: one batch.
      const outcomes = await Promise.allSettled([record(served(healthy, 'healthykey')), record(served(refused, 'refusedkey')), record(served(healthy, 'healthykey2'))]);
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((await listAudit(world.pool, { userId: healthy })).map((e) => e.keyId).sort()).toEqual(['healthykey', 'healthykey2']);
      expect(await listAudit(world.pool, { userId: refused })).toEqual([]);

      // Control: the same rows as one INSERT fail together; nothing of the healthy link is written.
      const healthy2 = uniqueUser('healthy');
      await expect(recordAudits(world.pool, [served(healthy2, 'a'), served(refused, 'b')])).rejects.toThrow(/audit row refused/);
      expect(await listAudit(world.pool, { userId: healthy2 })).toEqual([]);
    } finally {
      await stopRefusing();
    }
  }, LONG);

  it('no audit row, no token: the endpoint answers 503 without the token while the row is refused, and serves it once rows are accepted (control)', async () => {
    const user = uniqueUser('unaudited');
    await world.seedLink(user, { expiresInSeconds: 3600 });
    const keys = await Promise.all([1, 2, 3].map(() => createAgentKey(world.pool, { providerId: world.providerId, userId: user })));
    const stopRefusing = await refuseAuditRowsOf(user);
    try {
      const refusedAnswers = await Promise.all(keys.map((k) => postToken(user, k.key)));
      expect(refusedAnswers.map((a) => a.status)).toEqual([503, 503, 503]);
      expect(refusedAnswers.every((a) => a.body.error === 'provider_unavailable' && a.body.accessToken === undefined)).toBe(true);
    } finally {
      await stopRefusing();
    }
    const answers = await Promise.all(keys.map((k) => postToken(user, k.key)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    const audit = await listAudit(world.pool, { providerId: world.providerId, userId: user });
    expect(audit.filter((e) => e.outcome === 'served').map((e) => e.keyId).sort()).toEqual(keys.map((k) => k.info.id).sort());
  }, LONG);
});
