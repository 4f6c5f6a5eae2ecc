// P2's yardstick: the same exchange → persist (compare-and-set) → validate as extauth's activities, done
// directly in plain code with the same provider, database, SQL and HTTP client, and no engine.
import type { Pool } from 'pg';
import type { Dispatcher } from 'undici';
import { callProvider } from '../activities/http.js';
import type { LinkKey } from '../core/types.js';
import { classifyTokenAnswer, classifyValidation } from '../providers/classify.js';
import type { ProviderConfig } from '../providers/config.js';
import { getLink, writeRotatedTokens } from '../store/links.js';

const HTTP_TIMEOUT_MS = 13_000;

/** The steps apart (P2's breakdown): each step's milliseconds, reported as it ends. */
export type StepTimer = (step: 'load' | 'exchange' | 'persist' | 'validate', ms: number) => void;

export async function directRefresh(deps: { pool: Pool; http: Dispatcher; provider: ProviderConfig }, key: LinkKey, onStep?: StepTimer): Promise<string> {
  const { pool, http, provider } = deps;
  let mark = performance.now();
  const done = (name: Parameters<StepTimer>[0]) => {
    const at = performance.now();
    onStep?.(name, at - mark);
    mark = at;
  };
  const row = await getLink(pool, key);
  done('load');
  if (!row) throw new Error('no link');
  const form = new URLSearchParams({
    grant_type: 'refresh_token',
    refresh_token: row.refreshToken,
    client_id: provider.clientId,
    client_secret: provider.clientSecret,
  });
  const answer = await callProvider(http, provider.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'user-agent': 'extauth' },
    body: form.toString(),
    timeoutMs: HTTP_TIMEOUT_MS,
  });
  const verdict = classifyTokenAnswer(answer.status, answer.headers, answer.body);
  done('exchange');
  if (verdict.kind !== 'tokens') throw new Error(`exchange: ${verdict.kind}`);
  const t = verdict.tokens;
  const written = await writeRotatedTokens(pool, key, row.tokenVersion, {
    accessToken: t.accessToken,
    refreshToken: t.refreshToken ?? row.refreshToken,
    tokenType: t.tokenType,
    expiresAt: t.expiresIn === undefined ? null : new Date(Date.now() + t.expiresIn * 1000).toISOString(),
    extra: { ...t.extra, ...(t.expiresIn === undefined ? {} : { expires_in: t.expiresIn }) },
  });
  done('persist');
  if (!written) throw new Error('persist: version conflict');
  const check = await callProvider(http, provider.validateUrl!, {
    method: 'GET',
    headers: { authorization: `Bearer ${t.accessToken}`, accept: 'application/json', 'user-agent': 'extauth' },
    timeoutMs: HTTP_TIMEOUT_MS,
  });
  const validity = classifyValidation(check.status, check.headers);
  done('validate');
  if (validity !== 'valid' && validity !== 'rate_limited') throw new Error(`validate: ${validity}`);
  return t.accessToken;
}
