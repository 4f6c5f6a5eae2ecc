// Temporal records activity results and update results in history: with the codec they must be ciphertext.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkWorkflowId } from '../core/ids.js';
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
