import { defaultPayloadConverter } from '@temporalio/common';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AesGcmCodec } from '../codec/aes-gcm-codec.js';
import { generateCodecKey, makeCodecKeys } from '../codec/keys.js';
import { createCodecServer } from '../codec/server.js';
import { createLogger } from '../config/logger.js';
import { fingerprint } from '../core/fingerprint.js';

const oldKey = generateCodecKey('old');
const newKey = generateCodecKey('new');
const keys = makeCodecKeys(newKey, [oldKey]);
const grant = { accessToken: 'ghu_secretAccessToken123', tokenType: 'bearer', expiresAt: null, username: 'ghu_secretAccessToken123', password: '' };

describe('AES-256-GCM payload codec', () => {
  it('round-trips and tags the key id; old keys still decrypt after rotation', async () => {
    const payload = defaultPayloadConverter.toPayload(grant);
    const [byOld] = await new AesGcmCodec(makeCodecKeys(oldKey)).encode([payload]);
    const [byNew] = await new AesGcmCodec(keys).encode([payload]);
    expect(Buffer.from(byNew!.metadata!['encryption-key-id']!).toString()).toBe('new');
    expect(Buffer.from(byNew!.data!).toString('latin1')).not.toContain('ghu_secret');
    const codec = new AesGcmCodec(keys);
    for (const encrypted of [byOld!, byNew!]) {
      const [decoded] = await codec.decode([encrypted]);
      expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual(grant);
    }
  });

  it('refuses a payload whose key is not configured, and a tampered one', async () => {
    const [encrypted] = await new AesGcmCodec(makeCodecKeys(generateCodecKey('gone'))).encode([defaultPayloadConverter.toPayload(grant)]);
    await expect(new AesGcmCodec(keys).decode([encrypted!])).rejects.toThrow(/"gone"/);
    const [ours] = await new AesGcmCodec(keys).encode([defaultPayloadConverter.toPayload(grant)]);
    ours!.data![20] ^= 1;
    await expect(new AesGcmCodec(keys).decode([ours!])).rejects.toThrow();
  });
});

describe('codec server', () => {
  let base: string;
  const logged: string[] = [];
  const server = createCodecServer({
    keys,
    allowedOrigins: ['http://127.0.0.1:8233'],
    bearerToken: 'operator-secret',
    logger: createLogger({ write: (line: string) => void logged.push(line) }),
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function encodedBody() {
    const [p] = await new AesGcmCodec(keys).encode([defaultPayloadConverter.toPayload(grant)]);
    const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
    return JSON.stringify({ payloads: [{ metadata: Object.fromEntries(Object.entries(p!.metadata!).map(([k, v]) => [k, b64(v)])), data: b64(p!.data!) }] });
  }

  it('decodes for the Web UI with tokens replaced by their fingerprints', async () => {
    const res = await fetch(`${base}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer operator-secret', origin: 'http://127.0.0.1:8233' },
      body: await encodedBody(),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8233');
    const text = await res.text();
    const decoded = JSON.parse(Buffer.from(JSON.parse(text).payloads[0].data, 'base64').toString());
    expect(decoded.accessToken).toBe(`[sha256:${fingerprint(grant.accessToken)}]`);
    expect(decoded.username).toBe(decoded.accessToken);
    expect(decoded.tokenType).toBe('bearer');
    expect(text).not.toContain('ghu_secret');
    expect(Buffer.from(JSON.parse(text).payloads[0].data, 'base64').toString()).not.toContain('ghu_secret');
  });

  it('answers the CORS preflight for the UI origin only', async () => {
    const ok = await fetch(`${base}/decode`, { method: 'OPTIONS', headers: { origin: 'http://127.0.0.1:8233', 'access-control-request-method': 'POST' } });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-headers')).toContain('x-namespace');
    const other = await fetch(`${base}/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('requires the bearer token when one is configured', async () => {
    const res = await fetch(`${base}/decode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: await encodedBody() });
    expect(res.status).toBe(401);
  });

  it('refuses a payload under an unknown key with 400 and a logged warning', async () => {
    const [p] = await new AesGcmCodec(makeCodecKeys(generateCodecKey('elsewhere'))).encode([defaultPayloadConverter.toPayload(grant)]);
    const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
    const body = JSON.stringify({ payloads: [{ metadata: Object.fromEntries(Object.entries(p!.metadata!).map(([k, v]) => [k, b64(v)])), data: b64(p!.data!) }] });
    const res = await fetch(`${base}/decode`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer operator-secret' }, body });
    expect(res.status).toBe(400);
    expect(logged.some((line) => line.includes('"level":40') && line.includes('elsewhere'))).toBe(true);
    expect(logged.join('')).not.toContain('ghu_secret');
  });
});
