import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeOAuthProvider, type FakeProviderOptions } from '../dev/fake-provider.js';

let provider: FakeOAuthProvider;

async function startProvider(options?: FakeProviderOptions): Promise<FakeOAuthProvider> {
  await provider?.close();
  provider = await FakeOAuthProvider.start(options);
  return provider;
}

beforeEach(async () => {
  await startProvider();
});

afterEach(async () => {
  await provider.close();
});

interface RefreshOptions {
  json?: boolean;
  basic?: boolean;
  form?: Record<string, string>;
  signal?: AbortSignal;
}

function refresh(refreshToken: string, opts: RefreshOptions = {}): Promise<Response> {
  const { json = true, basic = false } = opts;
  const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken });
  const headers: Record<string, string> = {};
  if (basic) {
    const credentials = `${provider.clientId}:${provider.clientSecret}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  } else {
    form.set('client_id', provider.clientId);
    form.set('client_secret', provider.clientSecret);
  }
  for (const [key, value] of Object.entries(opts.form ?? {})) form.set(key, value);
  if (json) headers.accept = 'application/json';
  return fetch(provider.tokenUrl, { method: 'POST', headers, body: form, signal: opts.signal ?? null });
}

function validate(accessToken: string, scheme = 'Bearer'): Promise<Response> {
  return fetch(provider.validateUrl, { headers: { authorization: `${scheme} ${accessToken}` } });
}

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('token endpoint', () => {
  it('rotates: new tokens, the old refresh token and (as GitHub documents) the old access token die at once', async () => {
    const grant = provider.issueGrant();
    expect(provider.liveRefreshToken(grant.familyId)).toBe(grant.refreshToken);

    const res = await refresh(grant.refreshToken);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({
      access_token: expect.stringMatching(/^ghu_[0-9A-Za-z]{36}$/),
      token_type: 'bearer',
      expires_in: 28800,
      refresh_token: expect.stringMatching(/^ghr_[0-9A-Za-z]{76}$/),
      refresh_token_expires_in: 15897600,
      scope: '',
    });
    expect(provider.liveRefreshToken(grant.familyId)).toBe(body.refresh_token);
    expect(provider.isAccessTokenValid(grant.accessToken)).toBe(false);
    expect((await validate(grant.accessToken)).status).toBe(401);
    expect(provider.isAccessTokenValid(body.access_token as string)).toBe(true);

    const reuse = await refresh(grant.refreshToken);
    expect(reuse.status).toBe(200);
    expect(await reuse.json()).toMatchObject({
      error: 'bad_refresh_token',
      error_description: 'The refresh token passed is incorrect or expired.',
    });
    expect(provider.stats).toMatchObject({ tokenCalls: 2, rotations: 1 });
    expect(provider.stats.tokenCallsByFamily.get(grant.familyId)).toBe(2);
  });

  it('answers form-encoded unless Accept: application/json, errors included', async () => {
    const grant = provider.issueGrant();
    const res = await refresh(grant.refreshToken, { json: false });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded/);
    const answer = new URLSearchParams(await res.text());
    expect(answer.get('access_token')).toMatch(/^ghu_/);
    expect(answer.get('refresh_token')).toBe(provider.liveRefreshToken(grant.familyId));
    expect(answer.get('token_type')).toBe('bearer');
    expect(answer.get('expires_in')).toBe('28800');

    const error = await refresh(grant.refreshToken, { json: false });
    expect(error.status).toBe(200);
    expect(new URLSearchParams(await error.text()).get('error')).toBe('bad_refresh_token');
  });

  it('accepts HTTP Basic client auth, rejects both methods at once and wrong credentials', async () => {
    const grant = provider.issueGrant();
    const basic = await refresh(grant.refreshToken, { basic: true });
    expect(basic.status).toBe(200);
    const { refresh_token: next } = (await basic.json()) as { refresh_token: string };

    const both = await refresh(next, { basic: true, form: { client_id: provider.clientId } });
    expect(both.status).toBe(400);
    expect(await both.json()).toMatchObject({ error: 'invalid_request' });

    const wrong = await refresh(next, { form: { client_secret: 'nope' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: 'invalid_client' });
    expect(provider.liveRefreshToken(grant.familyId)).toBe(next);
  });

  it('rejects a missing or unsupported grant_type', async () => {
    const grant = provider.issueGrant();
    const res = await refresh(grant.refreshToken, { form: { grant_type: 'password' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'unsupported_grant_type' });
    expect(provider.liveRefreshToken(grant.familyId)).toBe(grant.refreshToken);
  });

  it('refuses every token of a revoked family', async () => {
    const grant = provider.issueGrant();
    provider.revokeFamily(grant.familyId);
    expect(provider.liveRefreshToken(grant.familyId)).toBeUndefined();
    expect(provider.isAccessTokenValid(grant.accessToken)).toBe(false);
    expect(await (await refresh(grant.refreshToken)).json()).toMatchObject({ error: 'bad_refresh_token' });
  });
});

describe('old access tokens after a refresh, per flavor', () => {
  it('gitlab ends them at once; entra and google leave them valid', async () => {
    for (const [flavor, stays] of [['gitlab', false], ['entra', true], ['google', true]] as const) {
      await startProvider({ flavor });
      const grant = provider.issueGrant();
      expect((await refresh(grant.refreshToken, { basic: true })).status).toBe(200);
      expect(provider.isAccessTokenValid(grant.accessToken), flavor).toBe(stays);
    }
  });

  it('atlassian: the old pair keeps working for the 10-minute leeway, then the old access token dies', async () => {
    await startProvider({ flavor: 'atlassian' });
    const grant = provider.issueGrant();
    const first = (await (await refresh(grant.refreshToken)).json()) as Record<string, unknown>;
    expect(first).toMatchObject({ token_type: 'Bearer', expires_in: 3600, refresh_token: expect.any(String) });
    expect(provider.isAccessTokenValid(grant.accessToken)).toBe(true);
    expect((await validate(grant.accessToken)).status).toBe(200);
    // Inside the leeway the old refresh token is answered with the same new tokens, and trips nothing.
    const again = (await (await refresh(grant.refreshToken)).json()) as Record<string, unknown>;
    expect(again.access_token).toBe(first.access_token);
    expect(again.refresh_token).toBe(first.refresh_token);
    expect(provider.stats.graceReplays).toBe(1);
    expect(provider.stats.reuseDetections).toBe(0);
    // The old access token now lives until 10 minutes after the refresh (its own hour would have been longer).
    const endsIn = provider.accessTokenExpiresAt(grant.accessToken)! - Date.now();
    expect(endsIn).toBeLessThanOrEqual(600_000);
    expect(endsIn).toBeGreaterThan(590_000);
    expect(provider.isAccessTokenValid(first.access_token as string)).toBe(true);
  });
});

describe('token faults', () => {
  it('omit_refresh_token answers without refresh_token and keeps the old one live', async () => {
    const grant = provider.issueGrant();
    provider.injectFault('token', { kind: 'omit_refresh_token' });
    const res = await refresh(grant.refreshToken);
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.status).toBe(200);
    expect(body.access_token).toMatch(/^ghu_/);
    expect(body).not.toHaveProperty('refresh_token');
    expect(provider.liveRefreshToken(grant.familyId)).toBe(grant.refreshToken);

    expect((await refresh(grant.refreshToken)).status).toBe(200);
    expect(provider.liveRefreshToken(grant.familyId)).not.toBe(grant.refreshToken);
  });

  it('matches faults per family, FIFO, for `times` calls, and counts faulted calls', async () => {
    const a = provider.issueGrant({ familyId: 'a' });
    const b = provider.issueGrant({ familyId: 'b' });
    provider.injectFault('token', { kind: 'status', status: 503 }, { familyId: 'a', times: 2 });
    provider.injectFault('token', { kind: 'status', status: 502, body: '{"x":1}', contentType: 'application/json' });

    const first = await refresh(b.refreshToken);
    expect(first.status).toBe(502);
    expect(await first.json()).toEqual({ x: 1 });
    expect((await refresh(b.refreshToken)).status).toBe(200);

    const faulted = await refresh(a.refreshToken);
    expect(faulted.status).toBe(503);
    expect(faulted.headers.get('content-type')).toMatch(/^text\/html/);
    expect((await refresh(a.refreshToken)).status).toBe(503);
    expect(provider.liveRefreshToken('a')).toBe(a.refreshToken);
    expect((await refresh(a.refreshToken)).status).toBe(200);

    expect(provider.stats.tokenCalls).toBe(5);
    expect(provider.stats.rotations).toBe(2);
    expect(provider.stats.tokenCallsByFamily.get('a')).toBe(3);
    expect(provider.stats.tokenCallsByFamily.get('b')).toBe(2);
  });

  it('reset_after_rotate rotates, then resets the connection', async () => {
    const grant = provider.issueGrant();
    provider.injectFault('token', { kind: 'reset_after_rotate' });
    await expect(refresh(grant.refreshToken)).rejects.toThrow();

    expect(provider.stats.rotations).toBe(1);
    const live = provider.liveRefreshToken(grant.familyId);
    expect(live).toMatch(/^ghr_/);
    expect(live).not.toBe(grant.refreshToken);
    expect(await (await refresh(grant.refreshToken)).json()).toMatchObject({ error: 'bad_refresh_token' });
    expect((await refresh(live!)).status).toBe(200);
  });

  it('rate_limit answers 429 with Retry-After and does not rotate', async () => {
    const grant = provider.issueGrant();
    provider.injectFault('token', { kind: 'rate_limit', retryAfterSeconds: 7 });
    const res = await refresh(grant.refreshToken);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(provider.liveRefreshToken(grant.familyId)).toBe(grant.refreshToken);
    expect(provider.stats.rotations).toBe(0);
  });

  it('oauth_error answers the given error; bad_refresh_token defaults to 200, others to 400', async () => {
    const grant = provider.issueGrant();
    provider.injectFault('token', { kind: 'oauth_error', error: 'invalid_grant', description: 'nope' });
    provider.injectFault('token', { kind: 'oauth_error', error: 'bad_refresh_token' });

    const invalidGrant = await refresh(grant.refreshToken);
    expect(invalidGrant.status).toBe(400);
    expect(await invalidGrant.json()).toMatchObject({ error: 'invalid_grant', error_description: 'nope' });
    const badRefresh = await refresh(grant.refreshToken, { json: false });
    expect(badRefresh.status).toBe(200);
    expect(new URLSearchParams(await badRefresh.text()).get('error')).toBe('bad_refresh_token');
    expect(provider.liveRefreshToken(grant.familyId)).toBe(grant.refreshToken);
  });

  it('hang delays the answer and rotates only once the answer is produced', async () => {
    const grant = provider.issueGrant();
    provider.injectFault('token', { kind: 'hang', ms: 150 });
    const started = Date.now();
    const pending = refresh(grant.refreshToken);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(provider.stats.rotations).toBe(0);

    const res = await pending;
    expect(Date.now() - started).toBeGreaterThanOrEqual(145);
    expect(res.status).toBe(200);
    expect(provider.stats.rotations).toBe(1);
  });

  it('hang still rotates when the client gave up', async () => {
    const grant = provider.issueGrant();
    provider.injectFault('token', { kind: 'hang', ms: 100 });
    await expect(refresh(grant.refreshToken, { signal: AbortSignal.timeout(20) })).rejects.toThrow();
    expect(provider.stats.rotations).toBe(0);
    await until(() => provider.stats.rotations === 1);
    expect(provider.liveRefreshToken(grant.familyId)).not.toBe(grant.refreshToken);
  });

  it('close() does not wait for a pending hang', async () => {
    const grant = provider.issueGrant();
    provider.injectFault('token', { kind: 'hang', ms: 60_000 });
    const pending = refresh(grant.refreshToken).then(
      () => 'answered',
      () => 'failed',
    );
    await until(() => provider.stats.tokenCalls === 1);
    const started = Date.now();
    await provider.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await pending).toBe('failed');
    expect(provider.stats.rotations).toBe(0);
  });

  it('refuses faults that do not belong to the endpoint', () => {
    expect(() => provider.injectFault('validate', { kind: 'reset_after_rotate' })).toThrow(TypeError);
    expect(() => provider.injectFault('token', { kind: 'validate_429' })).toThrow(TypeError);
    expect(() => provider.injectFault('token', { kind: 'hang', ms: 1 }, { times: 0 })).toThrow(RangeError);
  });
});

describe('validate endpoint', () => {
  it('answers 200 for a live token (Bearer or token scheme), 401 otherwise', async () => {
    const grant = provider.issueGrant({ familyId: 'f1' });
    const ok = await validate(grant.accessToken);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ login: 'fake-user-f1', id: 123 });
    expect((await validate(grant.accessToken, 'token')).status).toBe(200);

    const unknown = await validate('ghu_unknown');
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toMatchObject({ message: 'Bad credentials' });

    const expired = provider.issueGrant({ accessTokenLifetimeSeconds: 0 });
    expect((await validate(expired.accessToken)).status).toBe(401);

    provider.revokeFamily('f1');
    expect((await validate(grant.accessToken)).status).toBe(401);
    expect(provider.stats.validateCalls).toBe(5);
    expect(provider.stats.validateCallsByFamily.get('f1')).toBe(3);
  });

  it('serves the 401/403/429 fault variants', async () => {
    const grant = provider.issueGrant();
    provider.injectFault('validate', { kind: 'validate_401' });
    provider.injectFault('validate', { kind: 'validate_403' });
    provider.injectFault('validate', { kind: 'validate_403_rate_limited', header: 'retry-after' });
    provider.injectFault('validate', { kind: 'validate_403_rate_limited', header: 'x-ratelimit-remaining' });
    provider.injectFault('validate', { kind: 'validate_429' });
    provider.injectFault('validate', { kind: 'rate_limit', retryAfterSeconds: 3 });

    const unauthorized = await validate(grant.accessToken);
    expect(unauthorized.status).toBe(401);

    const forbidden = await validate(grant.accessToken);
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('retry-after')).toBeNull();
    expect(forbidden.headers.get('x-ratelimit-remaining')).toBeNull();

    const retryAfter = await validate(grant.accessToken);
    expect(retryAfter.status).toBe(403);
    expect(retryAfter.headers.get('retry-after')).toMatch(/^\d+$/);

    const exhausted = await validate(grant.accessToken);
    expect(exhausted.status).toBe(403);
    expect(exhausted.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(exhausted.headers.get('x-ratelimit-reset')).toMatch(/^\d+$/);

    expect((await validate(grant.accessToken)).status).toBe(429);
    const limited = await validate(grant.accessToken);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');

    expect((await validate(grant.accessToken)).status).toBe(200);
  });

  it('applies latency before answering', async () => {
    const grant = provider.issueGrant();
    provider.setLatency('validate', 80);
    const started = Date.now();
    expect((await validate(grant.accessToken)).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
  });
});

describe('provider', () => {
  it('answers 404 elsewhere and records every issued token', async () => {
    await startProvider({ clientId: 'id', clientSecret: 'secret', accessTokenLifetimeSeconds: 60 });
    expect((await fetch(`${provider.baseUrl}/nope`)).status).toBe(404);
    expect(provider.tokenUrl).toBe(`${provider.baseUrl}/login/oauth/access_token`);
    expect(provider.validateUrl).toBe(`${provider.baseUrl}/user`);

    const grant = provider.issueGrant();
    const body = (await (await refresh(grant.refreshToken)).json()) as Record<string, unknown>;
    expect(body.expires_in).toBe(60);
    expect(provider.issuedTokens()).toEqual([
      grant.accessToken,
      grant.refreshToken,
      body.access_token,
      body.refresh_token,
    ]);
  });
});

// The sign-in grants (dev/fake-login.ts): `extauth link login` is tested against them (test/link-login.test.ts), so
// they must refuse what the real providers refuse.
describe('device authorization grant (RFC 8628)', () => {
  const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
  async function deviceCode(p: FakeOAuthProvider): Promise<{ device_code: string; user_code: string; interval: number }> {
    const res = await fetch(p.deviceAuthorizationUrl!, { method: 'POST', headers: { accept: 'application/json' }, body: new URLSearchParams({ client_id: p.clientId }) });
    expect(res.status).toBe(200);
    return (await res.json()) as { device_code: string; user_code: string; interval: number };
  }
  const poll = (p: FakeOAuthProvider, code: string) =>
    fetch(p.tokenUrl, { method: 'POST', headers: { accept: 'application/json' }, body: new URLSearchParams({ client_id: p.clientId, grant_type: DEVICE_GRANT, device_code: code }) });

  it('github: pending, then slow_down when polled faster than the interval (interval +5 s), tokens once approved; errors with HTTP 200; public client', async () => {
    const p = await startProvider({ login: { deviceIntervalSeconds: 1 } });
    const code = await deviceCode(p);
    expect(code.interval).toBe(1);
    const first = await poll(p, code.device_code);
    expect([first.status, ((await first.json()) as { error: string }).error]).toEqual([200, 'authorization_pending']);
    // At once again: faster than the interval.
    const second = await poll(p, code.device_code);
    expect([second.status, ((await second.json()) as { error: string }).error]).toEqual([200, 'slow_down']);
    expect(p.login.deviceCode(code.user_code)!.intervalMs).toBe(6_000);
    p.login.approveDevice(code.user_code, 'fam-device');
    await new Promise((r) => setTimeout(r, 6_000));
    const third = await poll(p, code.device_code);
    const tokens = (await third.json()) as { access_token: string; refresh_token: string };
    expect(third.status).toBe(200);
    expect(p.liveAccessTokenFamily(tokens.access_token)).toBe('fam-device');
    expect(p.liveRefreshToken('fam-device')).toBe(tokens.refresh_token);
    // Used once: the device code is spent.
    expect(((await (await poll(p, code.device_code)).json()) as { error: string }).error).toBe('invalid_grant');
  }, 20_000);

  it('denied and expired codes answer access_denied and expired_token; gitlab answers them with HTTP 400', async () => {
    const p = await startProvider({ flavor: 'gitlab', login: { deviceIntervalSeconds: 1 } });
    const denied = await deviceCode(p);
    p.login.denyDevice(denied.user_code);
    const refusal = await poll(p, denied.device_code);
    expect([refusal.status, ((await refusal.json()) as { error: string }).error]).toEqual([400, 'access_denied']);
    const expired = await deviceCode(p);
    p.login.expireDevice(expired.user_code);
    expect(((await (await poll(p, expired.device_code)).json()) as { error: string }).error).toBe('expired_token');
  });
});

describe('authorization code grant with PKCE', () => {
  const redirectUri = 'http://127.0.0.1:1/callback';
  async function authorize(p: FakeOAuthProvider, params: Record<string, string>): Promise<URL> {
    const url = new URL(p.authorizeUrl);
    for (const [k, v] of Object.entries({ client_id: p.clientId, response_type: 'code', redirect_uri: redirectUri, state: 's1', ...params })) url.searchParams.set(k, v);
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    return new URL(res.headers.get('location')!);
  }
  const exchange = (p: FakeOAuthProvider, code: string, extra: Record<string, string>) =>
    fetch(p.tokenUrl, {
      method: 'POST',
      headers: { accept: 'application/json' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, client_id: p.clientId, client_secret: p.clientSecret, redirect_uri: redirectUri, ...extra }),
    });
  const s256 = (v: string) => createHash('sha256').update(v).digest('base64url');
  const verifier = 'a'.repeat(43);

  it('a wrong or missing code_verifier is refused; the right one gets tokens; the code is single-use', async () => {
    const p = await startProvider();
    const back = await authorize(p, { code_challenge: s256(verifier), code_challenge_method: 'S256' });
    expect(back.searchParams.get('state')).toBe('s1');
    const code = back.searchParams.get('code')!;
    const wrong = await exchange(p, code, { code_verifier: 'b'.repeat(43) });
    expect(((await wrong.json()) as { error: string }).error).toBe('bad_verification_code');
    const missing = await exchange(p, code, {});
    expect(((await missing.json()) as { error: string }).error).toBe('bad_verification_code');
    expect(p.login.stats.pkceRefusals).toBe(2);
    // The control: the same code with the right verifier.
    const right = await exchange(p, code, { code_verifier: verifier });
    const tokens = (await right.json()) as { access_token: string };
    expect(p.liveAccessTokenFamily(tokens.access_token)).toBeDefined();
    const again = await exchange(p, code, { code_verifier: verifier });
    expect(((await again.json()) as { error: string }).error).toBe('bad_verification_code');
    // A replayed code revokes what it produced (RFC 6749 4.1.2).
    expect(p.liveAccessTokenFamily(tokens.access_token)).toBeUndefined();
  });

  it('another redirect_uri at the token endpoint, a plain challenge and a non-loopback redirect are refused', async () => {
    const p = await startProvider({ flavor: 'gitlab' });
    const code = (await authorize(p, { code_challenge: s256(verifier), code_challenge_method: 'S256' })).searchParams.get('code')!;
    const other = await exchange(p, code, { code_verifier: verifier, redirect_uri: 'http://127.0.0.1:2/callback' });
    expect([other.status, ((await other.json()) as { error: string }).error]).toEqual([400, 'invalid_grant']);
    expect((await authorize(p, { code_challenge: verifier, code_challenge_method: 'plain' })).searchParams.get('error')).toBe('invalid_request');
    const url = new URL(p.authorizeUrl);
    for (const [k, v] of Object.entries({ client_id: p.clientId, response_type: 'code', redirect_uri: 'https://evil.example/callback' })) url.searchParams.set(k, v);
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(400);
  });

  it('a denial comes back as error=access_denied with the state', async () => {
    const p = await startProvider();
    p.login.setAuthorizeDecision({ approve: false });
    const back = await authorize(p, {});
    expect([back.searchParams.get('error'), back.searchParams.get('state'), back.searchParams.get('code')]).toEqual(['access_denied', 's1', null]);
  });
});
