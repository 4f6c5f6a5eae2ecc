// Temporal records activity results and update results in history: with the codec they must be ciphertext.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { historyToJSONText } from '../cli/commands/history.js';
import { makeCodecKeys, parseCodecKey } from '../codec/keys.js';
import { TokenSealer } from '../codec/seal.js';
import { linkWorkflowId } from '../core/ids.js';
import { decodedPayloads, refreshMaterialIn, sealedValuesIn } from './replay/fixture.js';
import { startWorld, uniqueUser, type World } from './support/world.js';

let encrypted: World;
let plaintext: World;
beforeAll(async () => {
  [encrypted, plaintext] = await Promise.all([startWorld(), startWorld({ codec: false })]);
});
afterAll(async () => {
  await Promise.all([encrypted.stop(), plaintext.stop()]);
});

/** The history exactly as the server stores it: raw protobuf, no data converter; every string and byte field as text. */
async function rawHistoryText(world: World, user: string): Promise<string> {
  const { history } = await world.temporal.workflowService.getWorkflowExecutionHistory({
    namespace: 'default',
    execution: { workflowId: linkWorkflowId(world.key(user)) },
  });
  const parts: string[] = [];
  const walk = (value: unknown): void => {
    if (value instanceof Uint8Array) parts.push(Buffer.from(value).toString('latin1'));
    else if (typeof value === 'string') parts.push(value);
    else if (value && typeof value === 'object') for (const v of Object.values(value)) walk(v);
  };
  walk(history);
  return parts.join('\n');
}

/** A refresh with a validation retry and a permanent failure: tokens in results, inputs and failures. */
async function exercise(world: World): Promise<string[]> {
  const ok = uniqueUser('secret');
  const dead = uniqueUser('dead');
  await world.seedLink(ok, { expiresInSeconds: -5 });
  await world.seedLink(dead, { expiresInSeconds: -5 });
  world.provider.revokeFamily(dead);
  world.provider.injectFault('validate', { kind: 'status', status: 502 }, { familyId: ok });
  await world.client.getToken({ provider: world.providerId, user: ok });
  await world.client.getToken({ provider: world.providerId, user: ok });
  await expect(world.client.getToken({ provider: world.providerId, user: dead })).rejects.toMatchObject({ code: 'reauth_required' });
  return [ok, dead];
}

function tokensIn(world: World, text: string): string[] {
  return world.provider.issuedTokens().filter((token) => text.includes(token));
}

describe('plaintext tokens in workflow history', () => {
  it('with the codec, raw histories hold no access or refresh token', async () => {
    const users = await exercise(encrypted);
    for (const user of users) {
      const text = await rawHistoryText(encrypted, user);
      expect(text).toContain('encrypted-aes256gcm');
      expect(tokensIn(encrypted, text)).toEqual([]);
    }
  });

  it('the same check finds tokens when the codec is off (so it can fail)', async () => {
    const [user] = await exercise(plaintext);
    const text = await rawHistoryText(plaintext, user!);
    expect(tokensIn(plaintext, text).length).toBeGreaterThan(0);
  });

  it('failure messages are encoded too', async () => {
    const [, dead] = await exercise(encrypted);
    const text = await rawHistoryText(encrypted, dead!);
    expect(text).not.toContain('bad_refresh_token');
    const clear = await rawHistoryText(plaintext, (await exercise(plaintext))[1]!);
    expect(clear).toContain('bad_refresh_token');
  });
});

/** Every payload of the link's history decoded with the client payload key: what a client with namespace read access sees. */
async function clientDecodedValues(world: World, user: string): Promise<unknown[]> {
  const history = await world.temporal.workflow.getHandle(linkWorkflowId(world.key(user))).fetchHistory();
  const clientKeys = makeCodecKeys(parseCodecKey(inject('codecKey'), 'codecKey'));
  return (await decodedPayloads(historyToJSONText(history), clientKeys)).map((p) => p.value);
}

describe('refresh tokens with the client payload key', () => {
  it('a real refresh: its history decoded with the client key holds neither the old nor the rotated refresh token', async () => {
    const user = uniqueUser('sealed');
    const seeded = await encrypted.seedLink(user, { expiresInSeconds: -5 });
    await encrypted.client.getToken({ provider: encrypted.providerId, user });
    const rotated = encrypted.provider.liveRefreshToken(user)!;
    expect(rotated).not.toBe(seeded.refreshToken);
    const values = await clientDecodedValues(encrypted, user);
    expect(refreshMaterialIn(values, [seeded.refreshToken, rotated])).toEqual([]);

    // Control: the same check on what the worker key opens finds the rotated token, so the check above can fail.
    const sealed = sealedValuesIn(values);
    expect(sealed).toHaveLength(2); // the exchange's result and persist's input
    const workerSealer = new TokenSealer(makeCodecKeys(parseCodecKey(inject('workerKey'), 'workerKey')));
    const opened = sealed.map((value) => workerSealer.open(value, encrypted.key(user), 'a sealed exchange answer'));
    expect(refreshMaterialIn(opened, [rotated]).length).toBeGreaterThan(0);
  });

  it('even with the payload codec off, the raw history holds no refresh token (access tokens only)', async () => {
    const user = uniqueUser('sealed-plain');
    const seeded = await plaintext.seedLink(user, { expiresInSeconds: -5 });
    await plaintext.client.getToken({ provider: plaintext.providerId, user });
    const text = await rawHistoryText(plaintext, user);
    const rotated = plaintext.provider.liveRefreshToken(user)!;
    expect(text).toContain((await plaintext.row(user)).accessToken);
    for (const refreshToken of [seeded.refreshToken, rotated]) expect(text).not.toContain(refreshToken);
  });
});
