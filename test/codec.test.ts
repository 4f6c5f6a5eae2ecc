import { defaultPayloadConverter } from '@temporalio/common';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AesGcmCodec } from '../codec/aes-gcm-codec.js';
import { formatCodecKey, generateCodecKey, makeCodecKeys } from '../codec/keys.js';
import { CodecServerConfigError, createCodecServer, startCodecServer } from '../codec/server.js';
import { createLogger } from '../config/logger.js';
import { fingerprint } from '../core/fingerprint.js';
import { runCli } from './support/cli.js';

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

/** A POST /decode with exactly these Host/Origin headers (fetch does not let a caller set Host). */
function rawPost(base: string, headers: Record<string, string>, body = '{"payloads":[]}'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const url = new URL(`${base}/decode`);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer operator-secret', ...headers }, setHost: !headers.host },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

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

  it('answers the CORS preflight for the UI origin only; another origin gets 403 and no CORS headers', async () => {
    const ok = await fetch(`${base}/decode`, { method: 'OPTIONS', headers: { origin: 'http://127.0.0.1:8233', 'access-control-request-method': 'POST' } });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-headers')).toContain('x-namespace');
    // The UI's passAccessToken sends `authorization`; its preflight carries no token and must pass.
    expect(ok.headers.get('access-control-allow-headers')).toContain('authorization');
    const other = await fetch(`${base}/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a page on another origin cannot decode, even with the right token: 403, nothing decoded, no CORS headers', async () => {
    const res = await fetch(`${base}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer operator-secret', origin: 'http://evil.example' },
      body: await encodedBody(),
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(await res.text()).not.toContain('payloads');
  });

  it('a DNS-rebinding host name is refused: 403, nothing decoded', async () => {
    const { status, body } = await rawPost(base, { host: `rebind.evil.example:${new URL(base).port}`, origin: `http://rebind.evil.example:${new URL(base).port}` });
    expect(status).toBe(403);
    expect(body).not.toContain('payloads');
    const noOrigin = await rawPost(base, { host: `rebind.evil.example:${new URL(base).port}` });
    expect(noOrigin.status).toBe(403);
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

describe('codec server: who may reach it', () => {
  const token = 'operator-secret';
  const start = (options: Partial<Parameters<typeof startCodecServer>[0]>) =>
    startCodecServer({ keys, port: 0, allowedOrigins: ['http://127.0.0.1:8233'], bearerToken: token, ...options });

  async function encoded(): Promise<string> {
    const [p] = await new AesGcmCodec(keys).encode([defaultPayloadConverter.toPayload(grant)]);
    const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
    return JSON.stringify({ payloads: [{ metadata: Object.fromEntries(Object.entries(p!.metadata!).map(([k, v]) => [k, b64(v)])), data: b64(p!.data!) }] });
  }

  it('refuses a wildcard origin: any web page could decrypt', () => {
    expect(() => createCodecServer({ keys, allowedOrigins: ['*'] })).toThrow(CodecServerConfigError);
    expect(() => createCodecServer({ keys, allowedOrigins: ['http://127.0.0.1:8233', '*'] })).toThrow(/every web page/);
  });

  it('refuses to listen off loopback without a bearer token; with one it starts', async () => {
    await expect(start({ host: '0.0.0.0', bearerToken: undefined })).rejects.toThrow(/EXTAUTH_CODEC_SERVER_TOKEN/);
    const { server } = await start({ host: '0.0.0.0' });
    await new Promise((resolve) => server.close(resolve));
  });

  it('controls: the same cross-origin and rebinding requests are served when that origin and host are configured', async () => {
    // Only the configuration differs from the refusals above: the refusal is the origin and host check, nothing else.
    const { server, url } = await start({ allowedOrigins: ['http://evil.example'], publicHosts: ['rebind.evil.example'] });
    try {
      const port = new URL(url).port;
      const crossOrigin = await rawPost(url, { origin: 'http://evil.example' }, await encoded());
      expect(crossOrigin.status).toBe(200);
      expect(crossOrigin.headers['access-control-allow-origin']).toBe('http://evil.example');
      expect(JSON.parse(crossOrigin.body).payloads).toHaveLength(1);
      const rebound = await rawPost(url, { host: `rebind.evil.example:${port}`, origin: 'http://evil.example' }, await encoded());
      expect(rebound.status).toBe(200);
      expect(JSON.parse(rebound.body).payloads).toHaveLength(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('the local Web UI origins (127.0.0.1 and localhost) and the localhost Host name are served', async () => {
    const { server, url } = await start({ allowedOrigins: ['http://127.0.0.1:8233', 'http://localhost:8233'] });
    try {
      const port = new URL(url).port;
      for (const origin of ['http://127.0.0.1:8233', 'http://localhost:8233']) {
        const res = await rawPost(url, { origin, host: `localhost:${port}` }, await encoded());
        expect(res.status, origin).toBe(200);
        expect(res.headers['access-control-allow-origin']).toBe(origin);
        expect(res.body).not.toContain('ghu_secret');
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('extauth codec-server (the real CLI)', () => {
  const env = { EXTAUTH_CODEC_KEY: formatCodecKey(newKey), EXTAUTH_DATA_DIR: '/nonexistent-extauth-data' };

  it('--origin * is a usage error (exit 2) naming the risk', async () => {
    const result = await runCli(['codec-server', '--origin', '*'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--origin: no wildcard/);
  });

  it('--listen off loopback without EXTAUTH_CODEC_SERVER_TOKEN exits 1 and says what to set', async () => {
    const result = await runCli(['codec-server', '--listen', '0.0.0.0', '--port', '65531'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/EXTAUTH_CODEC_SERVER_TOKEN/);
  });
});
