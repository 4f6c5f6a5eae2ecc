// The fault-injecting fake provider itself: malformed answers, per-call scripts, per-endpoint latency,
// and Okta/Auth0-style refresh-token reuse detection with a grace window.
import { afterEach, describe, expect, it } from 'vitest';
import { FakeOAuthProvider, type FakeProviderOptions } from '../../dev/fake-provider.js';

let provider: FakeOAuthProvider | undefined;
async function start(options?: FakeProviderOptions): Promise<FakeOAuthProvider> {
  provider = await FakeOAuthProvider.start(options);
  return provider;
}
afterEach(async () => {
  await provider?.close();
  provider = undefined;
});

function refresh(p: FakeOAuthProvider, refreshToken: string): Promise<Response> {
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: p.clientId, client_secret: p.clientSecret });
  return fetch(p.tokenUrl, { method: 'POST', headers: { accept: 'application/json' }, body: form });
}

describe('malformed answers', () => {
  it('serves each shape with HTTP 200 and rotates only when asked to', async () => {
    const p = await start();
    const grant = p.issueGrant({ familyId: 'm' });
    p.injectFault('token', { kind: 'malformed', shape: 'html_200' }, { familyId: 'm' });
    p.injectFault('token', { kind: 'malformed', shape: 'truncated_json' }, { familyId: 'm' });
    p.injectFault('token', { kind: 'malformed', shape: 'missing_access_token' }, { familyId: 'm' });
    p.injectFault('token', { kind: 'malformed', shape: 'non_utf8' }, { familyId: 'm' });
    p.injectFault('token', { kind: 'malformed', shape: 'oversized', bytes: 3 * 1024 * 1024 }, { familyId: 'm' });

    const html = await refresh(p, grant.refreshToken);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    expect(await html.text()).toMatch(/<html>/);
    expect(() => JSON.parse('{"access_token":"ghu_')).toThrow();
    expect(await (await refresh(p, grant.refreshToken)).text()).toBe('{"access_token":"ghu_');
    expect(await (await refresh(p, grant.refreshToken)).json()).not.toHaveProperty('access_token');
    const bytes = Buffer.from(await (await refresh(p, grant.refreshToken)).arrayBuffer());
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes)).toThrow();
    const big = await (await refresh(p, grant.refreshToken)).arrayBuffer();
    expect(big.byteLength).toBeGreaterThan(3 * 1024 * 1024);

    expect(p.stats.rotations).toBe(0);
    expect(p.liveRefreshToken('m')).toBe(grant.refreshToken);

    p.injectFault('token', { kind: 'malformed', shape: 'truncated_json', rotate: true }, { familyId: 'm' });
    await (await refresh(p, grant.refreshToken)).text();
    expect(p.stats.rotations).toBe(1);
    expect(p.liveRefreshToken('m')).not.toBe(grant.refreshToken);
  });

  it('applies to the validate endpoint too', async () => {
    const p = await start();
    const grant = p.issueGrant();
    p.injectFault('validate', { kind: 'malformed', shape: 'html_200' });
    const res = await fetch(p.validateUrl, { headers: { authorization: `Bearer ${grant.accessToken}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/<html>/);
  });
});

describe('scripts per family and call number', () => {
  it('atCall holds a fault back until the family reaches that call; other families are untouched', async () => {
    const p = await start();
    const a = p.issueGrant({ familyId: 'a' });
    const b = p.issueGrant({ familyId: 'b' });
    p.scriptFaults('token', 'a', [null, { kind: 'status', status: 503 }, null, { kind: 'status', status: 502 }]);

    let tokenA = a.refreshToken;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await refresh(p, tokenA);
      statuses.push(res.status);
      const text = await res.text();
      if (res.status === 200) tokenA = (JSON.parse(text) as { refresh_token: string }).refresh_token;
      expect((await refresh(p, p.liveRefreshToken('b')!)).status).toBe(200);
    }
    expect(statuses).toEqual([200, 503, 200, 502, 200]);
    expect(p.stats.tokenCallsByFamily.get('b')).toBe(5);
    void b;
  });

  it('latency per endpoint', async () => {
    const p = await start({ latencyMs: { token: 120, validate: 0 } });
    const grant = p.issueGrant();
    let started = Date.now();
    await (await fetch(p.validateUrl, { headers: { authorization: `Bearer ${grant.accessToken}` } })).text();
    expect(Date.now() - started).toBeLessThan(100);
    started = Date.now();
    await (await refresh(p, grant.refreshToken)).text();
    expect(Date.now() - started).toBeGreaterThanOrEqual(115);
  });
});

describe('refresh-token reuse detection', () => {
  it('without a grace window, presenting a rotated-away token revokes the whole family', async () => {
    const p = await start({ reuseDetection: {} });
    const grant = p.issueGrant({ familyId: 'r' });
    const first = (await (await refresh(p, grant.refreshToken)).json()) as { access_token: string; refresh_token: string };
    expect(p.isAccessTokenValid(first.access_token)).toBe(true);

    const reuse = await refresh(p, grant.refreshToken);
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toMatchObject({ error: 'invalid_grant' });
    expect(p.stats.reuseDetections).toBe(1);
    expect([...p.stats.trippedFamilies]).toEqual(['r']);
    expect(p.liveRefreshToken('r')).toBeUndefined();
    expect(p.isAccessTokenValid(first.access_token)).toBe(false);
    expect(await (await refresh(p, first.refresh_token)).json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('inside the grace window the just-rotated token gets the same new tokens; after it, the family dies', async () => {
    const p = await start();
    p.setReuseDetection('g', { graceMs: 300 });
    const grant = p.issueGrant({ familyId: 'g' });
    const first = (await (await refresh(p, grant.refreshToken)).json()) as Record<string, string>;
    const replay = (await (await refresh(p, grant.refreshToken)).json()) as Record<string, string>;
    expect(replay.access_token).toBe(first.access_token);
    expect(replay.refresh_token).toBe(first.refresh_token);
    expect(p.stats.graceReplays).toBe(1);
    expect(p.stats.rotations).toBe(1);
    expect(p.liveRefreshToken('g')).toBe(first.refresh_token);

    await new Promise((r) => setTimeout(r, 350));
    expect((await refresh(p, grant.refreshToken)).status).toBe(400);
    expect(p.stats.trippedFamilies.has('g')).toBe(true);
  });

  it('a token two rotations old is reuse even inside the window; families without detection keep GitHub behaviour', async () => {
    const p = await start({ reuseDetection: { graceMs: 60_000 } });
    p.setReuseDetection('plain', false);
    const grant = p.issueGrant({ familyId: 'two' });
    const first = (await (await refresh(p, grant.refreshToken)).json()) as Record<string, string>;
    await (await refresh(p, first.refresh_token!)).json();
    expect((await refresh(p, grant.refreshToken)).status).toBe(400);
    expect(p.stats.trippedFamilies.has('two')).toBe(true);

    const plain = p.issueGrant({ familyId: 'plain' });
    await (await refresh(p, plain.refreshToken)).json();
    const dead = await refresh(p, plain.refreshToken);
    expect(dead.status).toBe(200);
    expect(await dead.json()).toMatchObject({ error: 'bad_refresh_token' });
    expect(p.liveRefreshToken('plain')).toBeDefined();
  });
});
