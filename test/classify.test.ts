// What a provider's answer means: the single place that decides success, permanent, transient, rate limited.
import { describe, expect, it } from 'vitest';
import { classifyTokenAnswer, classifyValidation, retryAfterMs } from '../providers/classify.js';

const json = (extra: Record<string, string> = {}) => new Headers({ 'content-type': 'application/json; charset=utf-8', ...extra });
const form = () => new Headers({ 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
const html = () => new Headers({ 'content-type': 'text/html; charset=utf-8' });

describe('classifyTokenAnswer: tokens', () => {
  it('reads a JSON answer: tokens, type, lifetime, and the rest kept as extra', () => {
    const verdict = classifyTokenAnswer(
      200,
      json(),
      JSON.stringify({ access_token: 'ghu_a', refresh_token: 'ghr_r', token_type: 'bearer', expires_in: 28800, scope: 'repo', refresh_token_expires_in: 15897600 }),
    );
    expect(verdict).toEqual({
      kind: 'tokens',
      tokens: {
        accessToken: 'ghu_a',
        refreshToken: 'ghr_r',
        tokenType: 'bearer',
        expiresIn: 28800,
        refreshTokenExpiresIn: 15897600,
        extra: { expires_in: 28800, scope: 'repo', refresh_token_expires_in: 15897600 },
      },
    });
  });

  it('reads a form-encoded answer (GitHub without Accept: application/json); expires_in as text becomes a number', () => {
    const verdict = classifyTokenAnswer(200, form(), 'access_token=ghu_a&expires_in=28800&refresh_token=ghr_r&scope=&token_type=bearer');
    expect(verdict.kind).toBe('tokens');
    if (verdict.kind !== 'tokens') return;
    expect(verdict.tokens).toMatchObject({ accessToken: 'ghu_a', refreshToken: 'ghr_r', tokenType: 'bearer', expiresIn: 28800 });
  });

  it('reads a form body even when the content type is missing', () => {
    const verdict = classifyTokenAnswer(200, new Headers(), 'access_token=ghu_a&token_type=bearer');
    expect(verdict).toMatchObject({ kind: 'tokens', tokens: { accessToken: 'ghu_a' } });
  });

  it('an answer without refresh_token leaves it undefined (the caller keeps the old one); no expires_in leaves the lifetime unknown', () => {
    const verdict = classifyTokenAnswer(200, json(), JSON.stringify({ access_token: 'ghu_a' }));
    expect(verdict).toMatchObject({ kind: 'tokens', tokens: { accessToken: 'ghu_a', refreshToken: undefined, expiresIn: undefined, tokenType: 'bearer' } });
  });

  it('an empty refresh_token counts as none, and a non-positive expires_in as unknown', () => {
    const verdict = classifyTokenAnswer(200, json(), JSON.stringify({ access_token: 'ghu_a', refresh_token: '', expires_in: 0 }));
    expect(verdict).toMatchObject({ kind: 'tokens', tokens: { refreshToken: undefined, expiresIn: undefined } });
  });
});

describe('classifyTokenAnswer: refresh_token_expires_in', () => {
  const refreshLifetime = (fields: Record<string, unknown>) => {
    const verdict = classifyTokenAnswer(200, json(), JSON.stringify({ access_token: 'ghu_a', refresh_token: 'ghr_r', ...fields }));
    if (verdict.kind !== 'tokens') throw new Error(`not tokens: ${verdict.kind}`);
    return verdict.tokens.refreshTokenExpiresIn;
  };

  it('reads it from a form answer (text) as a number', () => {
    const verdict = classifyTokenAnswer(200, form(), 'access_token=ghu_a&refresh_token=ghr_r&refresh_token_expires_in=15897600&token_type=bearer');
    expect(verdict).toMatchObject({ kind: 'tokens', tokens: { refreshTokenExpiresIn: 15897600 } });
  });

  it('absent leaves it unknown', () => {
    expect(refreshLifetime({})).toBeUndefined();
  });

  it.each([0, -5, 'soon', '', '12abc', '1e3', true, null, [600], { s: 600 }, Number.MAX_SAFE_INTEGER, 11 * 365 * 86400])(
    'ignores an insane value %j',
    (value) => {
      expect(refreshLifetime({ refresh_token_expires_in: value })).toBeUndefined();
    },
  );

  it('accepts a positive number, as JSON number or decimal text', () => {
    expect(refreshLifetime({ refresh_token_expires_in: 600 })).toBe(600);
    expect(refreshLifetime({ refresh_token_expires_in: '600' })).toBe(600);
  });

  it('is ignored when the answer has no new refresh token (the old token, and its expiry, stay)', () => {
    const verdict = classifyTokenAnswer(200, json(), JSON.stringify({ access_token: 'ghu_a', refresh_token_expires_in: 600 }));
    expect(verdict).toMatchObject({ kind: 'tokens', tokens: { refreshToken: undefined, refreshTokenExpiresIn: undefined } });
  });
});

describe('classifyTokenAnswer: refusals', () => {
  it('an error in a 200 body (GitHub bad_refresh_token) is permanent', () => {
    const verdict = classifyTokenAnswer(
      200,
      json(),
      JSON.stringify({ error: 'bad_refresh_token', error_description: 'The refresh token passed is incorrect or expired.' }),
    );
    expect(verdict).toEqual({ kind: 'permanent', code: 'bad_refresh_token', description: 'The refresh token passed is incorrect or expired.', status: 200 });
  });

  it('a form-encoded error in a 200 body is permanent too', () => {
    const verdict = classifyTokenAnswer(200, form(), 'error=bad_refresh_token&error_description=expired');
    expect(verdict).toMatchObject({ kind: 'permanent', code: 'bad_refresh_token', description: 'expired' });
  });

  it.each(['invalid_grant', 'invalid_client', 'unauthorized_client', 'unsupported_grant_type', 'incorrect_client_credentials'])(
    '%s is permanent whatever the 4xx status',
    (code) => {
      expect(classifyTokenAnswer(403, json(), JSON.stringify({ error: code }))).toMatchObject({ kind: 'permanent', code, status: 403 });
    },
  );

  it('an unknown error code is permanent on 400 but transient on other 4xx statuses', () => {
    expect(classifyTokenAnswer(400, json(), JSON.stringify({ error: 'invalid_request' }))).toMatchObject({ kind: 'permanent', code: 'invalid_request' });
    expect(classifyTokenAnswer(409, json(), JSON.stringify({ error: 'slow_down' }))).toMatchObject({ kind: 'transient', status: 409, maybeRotated: false });
  });

  it('a bare 400 or 401 without an error code is permanent (http_400 / http_401)', () => {
    expect(classifyTokenAnswer(400, html(), '<html>Bad Request</html>')).toMatchObject({ kind: 'permanent', code: 'http_400' });
    expect(classifyTokenAnswer(401, new Headers(), '')).toMatchObject({ kind: 'permanent', code: 'http_401' });
  });
});

describe('classifyTokenAnswer: transient', () => {
  it.each([500, 502, 503, 504])('HTTP %i with an HTML page is transient and did not rotate', (status) => {
    expect(classifyTokenAnswer(status, html(), '<html><body><h1>Error</h1></body></html>')).toEqual({
      kind: 'transient',
      reason: `HTTP ${status}`,
      status,
      retryAfterMs: undefined,
      maybeRotated: false,
    });
  });

  it('a 5xx wins over an error code in its body, which is kept in the reason', () => {
    const verdict = classifyTokenAnswer(503, json(), JSON.stringify({ error: 'invalid_grant' }));
    expect(verdict).toMatchObject({ kind: 'transient', reason: 'HTTP 503 invalid_grant', maybeRotated: false });
  });

  it('429 with Retry-After in seconds gives the delay in ms', () => {
    const verdict = classifyTokenAnswer(429, json({ 'retry-after': '7' }), JSON.stringify({ message: 'slow down' }));
    expect(verdict).toMatchObject({ kind: 'transient', status: 429, retryAfterMs: 7_000, maybeRotated: false });
  });

  it('429 with Retry-After as an HTTP date gives the time until then', () => {
    // HTTP dates have whole seconds: 10 s ahead of a whole second is between 9 and 10 s from now.
    const at = new Date((Math.floor(Date.now() / 1000) + 10) * 1000).toUTCString();
    const verdict = classifyTokenAnswer(429, json({ 'retry-after': at }), '{}');
    expect(verdict.kind).toBe('transient');
    if (verdict.kind !== 'transient') return;
    expect(verdict.retryAfterMs).toBeGreaterThan(8_500);
    expect(verdict.retryAfterMs).toBeLessThanOrEqual(10_000);
  });

  it('429 without Retry-After leaves the delay to the retry policy', () => {
    expect(classifyTokenAnswer(429, json(), '{}')).toMatchObject({ kind: 'transient', retryAfterMs: undefined });
  });

  it('a 2xx that cannot be read (HTML, truncated JSON, no access_token) is transient and may have rotated', () => {
    for (const [headers, body] of [
      [html(), '<html>ok</html>'],
      [json(), '{"access_token": "ghu_a", "refresh'],
      [json(), JSON.stringify({ token_type: 'bearer' })],
      [json(), '[1, 2]'],
      [new Headers(), ''],
    ] as const) {
      expect(classifyTokenAnswer(200, headers, body)).toMatchObject({ kind: 'transient', status: 200, maybeRotated: true });
    }
  });

  it('other statuses (e.g. a 302 to a login page) are transient and did not rotate', () => {
    expect(classifyTokenAnswer(302, html(), '')).toMatchObject({ kind: 'transient', reason: 'HTTP 302', maybeRotated: false });
  });
});

describe('retryAfterMs', () => {
  it('reads seconds, an HTTP date relative to now, and clamps a past date to 0', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs(new Headers({ 'retry-after': '0' }), now)).toBe(0);
    expect(retryAfterMs(new Headers({ 'retry-after': '120' }), now)).toBe(120_000);
    expect(retryAfterMs(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }), now)).toBe(30_000);
    expect(retryAfterMs(new Headers({ 'retry-after': 'Wed, 31 Dec 2025 23:00:00 GMT' }), now)).toBe(0);
  });

  it('is undefined when absent or unreadable', () => {
    expect(retryAfterMs(new Headers())).toBeUndefined();
    expect(retryAfterMs(new Headers({ 'retry-after': '' }))).toBeUndefined();
    expect(retryAfterMs(new Headers({ 'retry-after': 'soon' }))).toBeUndefined();
  });
});

describe('classifyValidation', () => {
  it.each([200, 204])('%i is valid', (status) => {
    expect(classifyValidation(status, new Headers())).toBe('valid');
  });

  it('401 is unauthorized (retried briefly by the caller for replication lag)', () => {
    expect(classifyValidation(401, new Headers())).toBe('unauthorized');
  });

  it('429 is a rate limit on a valid token', () => {
    expect(classifyValidation(429, new Headers())).toBe('rate_limited');
  });

  it('403 with Retry-After, or with X-RateLimit-Remaining: 0, is a rate limit', () => {
    expect(classifyValidation(403, new Headers({ 'retry-after': '60' }))).toBe('rate_limited');
    expect(classifyValidation(403, new Headers({ 'x-ratelimit-remaining': '0' }))).toBe('rate_limited');
  });

  it('a bare 403, or one with quota left, is invalid', () => {
    expect(classifyValidation(403, new Headers())).toBe('invalid');
    expect(classifyValidation(403, new Headers({ 'x-ratelimit-remaining': '4999' }))).toBe('invalid');
  });

  it.each([500, 502, 503, 404, 302])('%i is an error worth retrying', (status) => {
    expect(classifyValidation(status, new Headers())).toBe('error');
  });
});

describe('classifyTokenAnswer: provider text is bounded and cannot drive a terminal', () => {
  // 10 KB of colour, cursor, title and 8-bit CSI sequences, a bell, a NUL and bidi overrides around a real sentence.
  const hostile = `The grant was revoked.${'\u001b[31m\u001b[2J\u001b]0;pwned\u0007\u009b1;1H\u0000\u202e'.repeat(400)}${'x'.repeat(4_000)}`;

  it('the description keeps its words, loses every control character, and stays within 300 characters', () => {
    const body = JSON.stringify({ error: 'invalid_grant', error_description: hostile });
    expect(body.length).toBeGreaterThan(10_000); // control: the answer really is 10 KB of escapes
    const verdict = classifyTokenAnswer(400, json(), body);
    expect(verdict).toMatchObject({ kind: 'permanent', code: 'invalid_grant', status: 400 });
    if (verdict.kind !== 'permanent') return;
    expect(verdict.description.startsWith('The grant was revoked.')).toBe(true);
    expect(Array.from(verdict.description).length).toBeLessThanOrEqual(300);
    expect(verdict.description).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
  });

  it('an unknown error code is cleaned too before it reaches a transient reason', () => {
    const verdict = classifyTokenAnswer(403, json(), JSON.stringify({ error: `slow_down\u001b[2J${'y'.repeat(500)}` }));
    expect(verdict.kind).toBe('transient');
    if (verdict.kind !== 'transient') return;
    expect(verdict.reason).not.toContain('\u001b');
    expect(verdict.reason.length).toBeLessThan(100);
  });
});
