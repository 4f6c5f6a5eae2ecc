// The worker key's sealing (codec/seal.ts) and the exchange answer's history form (activities/sealed-tokens.ts).
import { defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { openTokenSet, sealTokenSet } from '../activities/sealed-tokens.js';
import { AesGcmCodec } from '../codec/aes-gcm-codec.js';
import { CodecKeyError, formatCodecKey, generateCodecKey, makeCodecKeys } from '../codec/keys.js';
import { assertWorkerKeyApart, SealedValueError, TokenSealer, tokenSealerFromEnv } from '../codec/seal.js';
import type { TokenSet } from '../core/types.js';

const link = { providerId: 'google', userId: 'alice' };
const tokens: TokenSet = {
  accessToken: 'ya29.access',
  refreshToken: '1//0refreshSecret',
  tokenType: 'Bearer',
  expiresAt: '2030-01-01T00:00:00.000Z',
  refreshTokenExpiresAt: null,
  extra: { id_token: 'eyJhbGciOiJSUzI1NiJ9.idTokenSecret.sig', scope: 'openid email', expires_in: 3599 },
};
const clientKeys = makeCodecKeys(generateCodecKey('client'));
const workerKey = generateCodecKey('w1');

describe('token material sealed with the worker key', () => {
  it('the exchange answer as history holds it: decoded with the client key, no refresh token and no id_token', async () => {
    const sealed = sealTokenSet(new TokenSealer(makeCodecKeys(workerKey)), link, tokens);
    const [payload] = await new AesGcmCodec(clientKeys).encode([defaultPayloadConverter.toPayload({ kind: 'exchanged', tokens: sealed })]);
    const [decoded] = await new AesGcmCodec(clientKeys).decode([payload!]);
    const asClientSeesIt = Buffer.from(decoded!.data!).toString('utf8');
    expect(asClientSeesIt).toContain('ya29.access'); // agents are handed the access token anyway
    for (const secret of ['1//0refreshSecret', 'idTokenSecret', '"id_token"', '"refreshToken"']) expect(asClientSeesIt).not.toContain(secret);
    expect(sealed.sealed).toMatch(/^extauth-sealed:v1:w1:/);
    expect(openTokenSet(new TokenSealer(makeCodecKeys(workerKey)), link, sealed)).toEqual(tokens);
  });

  it('control: without sealing, the same decoding shows both', async () => {
    const [payload] = await new AesGcmCodec(clientKeys).encode([defaultPayloadConverter.toPayload({ kind: 'exchanged', tokens })]);
    const [decoded] = await new AesGcmCodec(clientKeys).decode([payload!]);
    const text = Buffer.from(decoded!.data!).toString('utf8');
    expect(text).toContain('1//0refreshSecret');
    expect(text).toContain('idTokenSecret');
  });

  it('does not open with the client key, for another link, or with a wrong key of the same id', () => {
    const sealed = sealTokenSet(new TokenSealer(makeCodecKeys(workerKey)), link, tokens);
    const clientAsWorker = new TokenSealer(makeCodecKeys({ id: 'w1', key: clientKeys.current.key }));
    expect(() => openTokenSet(clientAsWorker, link, sealed)).toThrow(/does not open with worker key "w1"/);
    expect(() => openTokenSet(new TokenSealer(makeCodecKeys(workerKey)), { ...link, userId: 'mallory' }, sealed)).toThrow(SealedValueError);
  });

  it('rotation: a value sealed with an older key opens while that key is in EXTAUTH_WORKER_DECRYPT_KEYS, and names it when not', () => {
    const sealed = sealTokenSet(new TokenSealer(makeCodecKeys(workerKey)), link, tokens);
    const next = generateCodecKey('w2');
    const rotated = tokenSealerFromEnv({ EXTAUTH_WORKER_KEY: formatCodecKey(next), EXTAUTH_WORKER_DECRYPT_KEYS: formatCodecKey(workerKey) });
    expect(openTokenSet(rotated, link, sealed)).toEqual(tokens);
    expect(sealTokenSet(rotated, link, tokens).sealed).toMatch(/^extauth-sealed:v1:w2:/);
    const dropped = tokenSealerFromEnv({ EXTAUTH_WORKER_KEY: formatCodecKey(next) });
    expect(() => openTokenSet(dropped, link, sealed)).toThrow(/worker key "w1", which is not configured .*EXTAUTH_WORKER_DECRYPT_KEYS/);
  });

  it('an answer recorded before sealing existed (a plain TokenSet) passes through for persist and recovery', () => {
    expect(openTokenSet(new TokenSealer(makeCodecKeys(workerKey)), link, tokens)).toEqual(tokens);
  });

  it('workers refuse to start without a worker key, saying how to make one, and refuse a payload key as worker key', () => {
    expect(() => tokenSealerFromEnv({})).toThrow(CodecKeyError);
    expect(() => tokenSealerFromEnv({})).toThrow(/EXTAUTH_WORKER_KEY=.*extauth codec-key/);
    expect(() => tokenSealerFromEnv({ EXTAUTH_WORKER_KEY: 'w1:short' })).toThrow(/EXTAUTH_WORKER_KEY must be "<key id>:<base64 of 32 random bytes>"/);
    const shared = new TokenSealer(makeCodecKeys({ id: 'other-id', key: clientKeys.current.key }));
    expect(() => assertWorkerKeyApart(shared, clientKeys)).toThrow(/must not be a payload key/);
    expect(() => assertWorkerKeyApart(new TokenSealer(makeCodecKeys(workerKey)), clientKeys)).not.toThrow();
  });
});
