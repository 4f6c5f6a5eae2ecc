// THE YARDSTICK, NOT PRODUCTION CODE. The seed's algorithm, as the report describes it, kept only to
// measure extauth against it in the same runs (soak, fault matrix, benchmarks):
//   exchange → validate → persist, validation retried only on 401/403 (about 5 times within 1 s),
//   no serialization between callers, no compare-and-set, a permanent error cached in the row.
// It shares extauth's HTTP client and answer classification so that only the algorithm differs.
import type { Pool } from 'pg';
import type { Dispatcher } from 'undici';
import { callProvider } from '../../activities/http.js';
import type { LinkKey } from '../../core/types.js';
import { classifyTokenAnswer } from '../../providers/classify.js';
import type { ProviderConfig } from '../../providers/config.js';
import { getLink } from '../../store/links.js';

const EXPIRY_SKEW_MS = 10_000;
const VALIDATE_ATTEMPTS = 5;
const VALIDATE_PAUSE_MS = 200;
const HTTP_TIMEOUT_MS = 10_000;

export type ReferenceOutcome =
  | { ok: true; accessToken: string; refreshed: boolean }
  | { ok: false; error: string; reauthRequired: boolean };

export async function referenceGetToken(
  deps: { pool: Pool; http: Dispatcher; provider: ProviderConfig },
  key: LinkKey,
): Promise<ReferenceOutcome> {
  const row = await getLink(deps.pool, key);
  if (!row) return { ok: false, error: 'no link', reauthRequired: true };
  if (row.failureReason) {
    return { ok: false, error: `token expired and refreshing failed ${row.failureReason}`, reauthRequired: true };
  }
  if (row.expiry && row.expiry.getTime() - EXPIRY_SKEW_MS > Date.now()) return { ok: true, accessToken: row.accessToken, refreshed: false };

  // 1. exchange
  let answer;
  try {
    answer = await callProvider(deps.http, deps.provider.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: row.refreshToken,
        client_id: deps.provider.clientId,
        client_secret: deps.provider.clientSecret,
      }).toString(),
      timeoutMs: HTTP_TIMEOUT_MS,
    });
  } catch (err) {
    return { ok: false, error: `refresh: ${(err as Error).message}`, reauthRequired: false };
  }
  const verdict = classifyTokenAnswer(answer.status, answer.headers, answer.body);
  if (verdict.kind === 'permanent') {
    // The cached failure: every later request fails fast until the user re-authenticates.
    await deps.pool.query(
      `UPDATE external_auth_links SET oauth_refresh_token = '', oauth_refresh_failure_reason = $3, updated_at = now()
       WHERE provider_id = $1 AND user_id = $2`,
      [key.providerId, key.userId, `with: ${verdict.code}`],
    );
    return { ok: false, error: verdict.code, reauthRequired: true };
  }
  if (verdict.kind === 'transient') return { ok: false, error: verdict.reason, reauthRequired: false };
  const tokens = verdict.tokens;

  // 2. validate, before saving anything: the bug. A 5xx or timeout here drops the rotated tokens.
  if (deps.provider.validateUrl) {
    let valid = false;
    for (let attempt = 1; attempt <= VALIDATE_ATTEMPTS && !valid; attempt++) {
      let status: number;
      try {
        status = (await callProvider(deps.http, deps.provider.validateUrl, {
          method: 'GET',
          headers: { authorization: `Bearer ${tokens.accessToken}` },
          timeoutMs: HTTP_TIMEOUT_MS,
        })).status;
      } catch (err) {
        return { ok: false, error: `validate: ${(err as Error).message}`, reauthRequired: false };
      }
      if (status === 200) valid = true;
      else if (status === 401 || status === 403) await new Promise((r) => setTimeout(r, VALIDATE_PAUSE_MS));
      else return { ok: false, error: `validate: HTTP ${status}`, reauthRequired: false };
    }
    if (!valid) return { ok: false, error: 'validate: token rejected', reauthRequired: false };
  }

  // 3. persist, last, with no compare-and-set: a concurrent caller's write may be overwritten.
  await deps.pool.query(
    `UPDATE external_auth_links SET oauth_access_token = $3, oauth_refresh_token = $4, oauth_expiry = $5,
       token_version = token_version + 1, updated_at = now()
     WHERE provider_id = $1 AND user_id = $2`,
    [
      key.providerId,
      key.userId,
      tokens.accessToken,
      tokens.refreshToken ?? row.refreshToken,
      tokens.expiresIn === undefined ? null : new Date(Date.now() + tokens.expiresIn * 1000),
    ],
  );
  return { ok: true, accessToken: tokens.accessToken, refreshed: true };
}
