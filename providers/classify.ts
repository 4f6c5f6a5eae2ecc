// The one place that decides what a provider's answer means: success, permanent, transient or rate limited.
import { providerText } from '../core/provider-text.js';

/** RFC 6749 5.2 codes (and GitHub's) that mean the grant or the client is dead: retrying cannot help. */
const PERMANENT_ERROR_CODES = new Set([
  'invalid_grant',
  'bad_refresh_token',
  'unauthorized_client',
  'invalid_client',
  'unsupported_grant_type',
  'incorrect_client_credentials',
]);

export interface ParsedTokens {
  accessToken: string;
  refreshToken: string | undefined;
  tokenType: string;
  expiresIn: number | undefined;
  /** Seconds the refresh token itself lives (`refresh_token_expires_in`, GitHub); undefined when absent or not sane. */
  refreshTokenExpiresIn: number | undefined;
  extra: Record<string, unknown>;
}

/** RFC 6749 5.2 error codes are short ASCII words; a longer `error` is cut to this. */
const MAX_ERROR_CODE_CHARS = 64;

/** A refresh-token lifetime beyond this (ten years) is not believed. */
const MAX_REFRESH_TOKEN_LIFETIME_SECONDS = 10 * 365 * 86_400;

export type TokenAnswer =
  | { kind: 'tokens'; tokens: ParsedTokens }
  | { kind: 'permanent'; code: string; description: string; status: number }
  | { kind: 'transient'; reason: string; status: number; retryAfterMs?: number; maybeRotated: boolean };

/** Reads a token endpoint answer, JSON or form-encoded. An error in the body wins over any HTTP status. */
export function classifyTokenAnswer(status: number, headers: Headers, body: string): TokenAnswer {
  const fields = parseProviderBody(headers.get('content-type') ?? '', body);
  // The provider's words are stored, logged and printed: bounded and free of control characters from here on.
  const error = typeof fields?.error === 'string' ? providerText(fields.error, MAX_ERROR_CODE_CHARS) || undefined : undefined;
  const description = typeof fields?.error_description === 'string' ? providerText(fields.error_description) : '';

  if (status === 429 || status >= 500) {
    return { kind: 'transient', reason: `HTTP ${status}${error ? ` ${error}` : ''}`, status, retryAfterMs: retryAfterMs(headers), maybeRotated: false };
  }
  if (error) {
    if (PERMANENT_ERROR_CODES.has(error) || status === 400 || status === 401 || status === 200) {
      return { kind: 'permanent', code: error, description, status };
    }
    return { kind: 'transient', reason: `HTTP ${status} ${error}`, status, maybeRotated: false };
  }
  if (status >= 200 && status < 300) {
    const tokens = fields && toTokens(fields);
    if (tokens) return { kind: 'tokens', tokens };
    // A 2xx we cannot read may still have rotated the token on the provider's side.
    return { kind: 'transient', reason: `HTTP ${status} with an unreadable token answer`, status, maybeRotated: true };
  }
  if (status === 400 || status === 401) {
    return { kind: 'permanent', code: `http_${status}`, description: 'the provider refused the request without an error code', status };
  }
  return { kind: 'transient', reason: `HTTP ${status}`, status, maybeRotated: false };
}

export type Validity = 'valid' | 'rate_limited' | 'invalid' | 'unauthorized' | 'error';

/**
 * Validation as the reference settled it: 200 valid; 401 invalid (but the caller retries it briefly);
 * 403 with Retry-After or X-RateLimit-Remaining: 0, and 429, are rate limits on a valid token;
 * a bare 403 is invalid; anything else is an error worth retrying.
 */
export function classifyValidation(status: number, headers: Headers): Validity {
  if (status >= 200 && status < 300) return 'valid';
  if (status === 401) return 'unauthorized';
  if (status === 429) return 'rate_limited';
  if (status === 403) {
    const rateLimited = headers.has('retry-after') || headers.get('x-ratelimit-remaining') === '0';
    return rateLimited ? 'rate_limited' : 'invalid';
  }
  return 'error';
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const value = headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** A provider answer's fields: JSON, or a form body (GitHub answers forms unless asked for JSON); undefined otherwise. */
export function parseProviderBody(contentType: string, body: string): Record<string, unknown> | undefined {
  const trimmed = body.trim();
  if (contentType.includes('json') || trimmed.startsWith('{')) {
    try {
      const value: unknown = JSON.parse(trimmed);
      return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }
  if (contentType.includes('x-www-form-urlencoded') || /^[\w.-]+=/.test(trimmed)) {
    return Object.fromEntries(new URLSearchParams(trimmed));
  }
  return undefined;
}

function toTokens(fields: Record<string, unknown>): ParsedTokens | undefined {
  const accessToken = fields.access_token;
  if (typeof accessToken !== 'string' || accessToken === '') return undefined;
  const refreshToken = typeof fields.refresh_token === 'string' && fields.refresh_token !== '' ? fields.refresh_token : undefined;
  const expiresIn = Number(fields.expires_in);
  const { access_token: _a, refresh_token: _r, token_type, ...extra } = fields;
  return {
    accessToken,
    refreshToken,
    tokenType: typeof token_type === 'string' && token_type ? token_type : 'bearer',
    expiresIn: Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : undefined,
    // Only meaningful alongside a new refresh token; without one the caller keeps the old token and its expiry.
    refreshTokenExpiresIn: refreshToken === undefined ? undefined : saneSeconds(fields.refresh_token_expires_in, MAX_REFRESH_TOKEN_LIFETIME_SECONDS),
    extra,
  };
}

/** A positive number of seconds up to `max`, as a JSON number or a decimal string (form answers); else undefined. */
function saneSeconds(value: unknown, max: number): number | undefined {
  const seconds = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
  return Number.isFinite(seconds) && seconds > 0 && seconds <= max ? seconds : undefined;
}
