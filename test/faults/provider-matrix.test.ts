// The provider-fault matrix: every fault of the fake provider, on the exchange and on validation, run
// against extauth and, side by side, against the reference algorithm (bench/reference). For each row:
// what the agent got on its first and second request, whether a rotated refresh token was lost (the row's
// refresh token is not the provider's live one), and whether our own retries tripped reuse detection.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint } from '../../core/fingerprint.js';
import { referenceGetToken } from '../../bench/reference/reference-refresh.js';
import { ExtauthError } from '../../client/index.js';
import { TunedExtauthClient } from '../../client/tuned-client.js';
import type { FakeFault, FakeOAuthProvider, ReuseDetection } from '../../dev/fake-provider.js';
import { parseProviders } from '../../providers/config.js';
import type { Tuning } from '../../workflows/policies.js';
import { createProviderHttpClient } from '../../worker/activity-deps.js';
import { agentError } from '../support/helpers.js';
import { FAST_TUNING, logLines, startWorld, uniqueUser, type World } from '../support/world.js';

type Outcome = 'served' | 'reauth_required' | 'provider_unavailable' | 'error' | 'stale_token';
interface Result {
  first: Outcome;
  second: Outcome;
  /** The provider holds a live refresh token that the row does not (or the family was revoked). */
  lost: boolean;
  tripped: boolean;
  exchanges: number;
}

interface Row {
  id: string;
  step: 'exchange' | 'validate';
  fault: string;
  inject(p: FakeOAuthProvider, family: string): void;
  reuse?: ReuseDetection;
  tuning?: Partial<Tuning>;
  /** Drop the family's remaining faults between the two requests (a fault that outlasts one request's budget). */
  clearBetween?: boolean;
  extauth: Partial<Result>;
  /** Undefined: not run against the reference (a hang past its 10 s client timeout would only slow the suite). */
  reference?: Partial<Result>;
  /** A documented, permanent outcome: the provider rotated and nobody can learn the new token. */
  documented?: RegExp;
}

const on = (endpoint: 'token' | 'validate', fault: FakeFault, times = 1) => (p: FakeOAuthProvider, family: string) =>
  p.injectFault(endpoint, fault, { familyId: family, times });
const served = { first: 'served', second: 'served', lost: false, tripped: false } as const;
const GRACE = { graceMs: 10_000 };
/** Retries on a loaded 2-core machine can take seconds each: budgets that only the permanent rows exhaust. */
const ROOMY: Partial<Tuning> = { exchangeBudgetMs: 40_000, validateBudgetMs: 10_000 };
const HANG_TUNING = { exchangeAttemptMs: 1_500, retryInitialMs: 1_000, retryMaxMs: 1_000 };

const ROWS: Row[] = [
  // --- exchange ---------------------------------------------------------------------------------
  { id: 'x-5xx', step: 'exchange', fault: '503 twice', inject: on('token', { kind: 'status', status: 503 }, 2), extauth: { ...served, exchanges: 3 }, reference: { first: 'error', second: 'error', lost: false } },
  { id: 'x-429', step: 'exchange', fault: '429 Retry-After: 1', inject: on('token', { kind: 'rate_limit', retryAfterSeconds: 1 }), extauth: { ...served, exchanges: 2 }, reference: { first: 'error', second: 'served', lost: false } },
  { id: 'x-html', step: 'exchange', fault: 'HTML error page with 200', inject: on('token', { kind: 'malformed', shape: 'html_200' }), extauth: { ...served, exchanges: 2 }, reference: { first: 'error', second: 'served', lost: false } },
  { id: 'x-trunc', step: 'exchange', fault: 'truncated JSON (not rotated)', inject: on('token', { kind: 'malformed', shape: 'truncated_json' }), extauth: { ...served, exchanges: 2 }, reference: { first: 'error', second: 'served', lost: false } },
  { id: 'x-big', step: 'exchange', fault: '4 MiB body', inject: on('token', { kind: 'malformed', shape: 'oversized' }), extauth: { ...served, exchanges: 2 }, reference: { first: 'error', second: 'served', lost: false } },
  { id: 'x-noat', step: 'exchange', fault: '200 without access_token', inject: on('token', { kind: 'malformed', shape: 'missing_access_token' }), extauth: { ...served, exchanges: 2 }, reference: { first: 'error', second: 'served', lost: false } },
  { id: 'x-utf8', step: 'exchange', fault: 'non-UTF-8 body', inject: on('token', { kind: 'malformed', shape: 'non_utf8' }), extauth: { ...served, exchanges: 2 }, reference: { first: 'error', second: 'served', lost: false } },
  {
    id: 'x-reuse-5xx', step: 'exchange', fault: '503, 429, 503 on a reuse-detecting provider (no grace)', reuse: {},
    inject: (p, f) => p.scriptFaults('token', f, [{ kind: 'status', status: 503 }, { kind: 'rate_limit', retryAfterSeconds: 0 }, { kind: 'status', status: 503 }]),
    extauth: { ...served, exchanges: 4 }, reference: { first: 'error', second: 'error', lost: false, tripped: false },
  },
  { id: 'x-reset-grace', step: 'exchange', fault: 'connection reset after rotating, grace window', reuse: GRACE, inject: on('token', { kind: 'reset_after_rotate' }), extauth: { ...served, exchanges: 2 }, reference: { first: 'error', second: 'served', lost: false } },
  { id: 'x-trunc-rot-grace', step: 'exchange', fault: 'truncated JSON after rotating, grace window', reuse: GRACE, inject: on('token', { kind: 'malformed', shape: 'truncated_json', rotate: true }), extauth: { ...served, exchanges: 2 }, reference: { first: 'error', second: 'served', lost: false } },
  { id: 'x-hang-grace', step: 'exchange', fault: 'hang past the client timeout, grace window', reuse: GRACE, tuning: HANG_TUNING, inject: on('token', { kind: 'hang', ms: 1_500 }), extauth: { ...served, exchanges: 2 } },
  {
    id: 'x-reset', step: 'exchange', fault: 'connection reset after rotating (GitHub: no grace)', inject: on('token', { kind: 'reset_after_rotate' }),
    extauth: { first: 'reauth_required', second: 'reauth_required', lost: true, tripped: false, exchanges: 2 }, documented: /may have rotated/,
    reference: { first: 'error', second: 'reauth_required', lost: true },
  },
  {
    id: 'x-hang', step: 'exchange', fault: 'hang past the client timeout (GitHub: no grace)', tuning: HANG_TUNING, inject: on('token', { kind: 'hang', ms: 1_500 }),
    extauth: { first: 'reauth_required', second: 'reauth_required', lost: true, tripped: false, exchanges: 2 }, documented: /may have rotated/,
  },
  {
    id: 'x-revoked', step: 'exchange', fault: 'grant revoked at the provider (permanent)', inject: (p, f) => p.revokeFamily(f),
    extauth: { first: 'reauth_required', second: 'reauth_required', lost: false, exchanges: 1 }, documented: /bad_refresh_token/,
    reference: { first: 'reauth_required', second: 'reauth_required', lost: false },
  },
  // --- validate ---------------------------------------------------------------------------------
  { id: 'v-5xx', step: 'validate', fault: '503 twice', inject: on('validate', { kind: 'status', status: 503 }, 2), extauth: { ...served, exchanges: 1 }, reference: { first: 'error', second: 'reauth_required', lost: true } },
  { id: 'v-429', step: 'validate', fault: '429', inject: on('validate', { kind: 'validate_429' }), extauth: { ...served, exchanges: 1 }, reference: { first: 'error', second: 'reauth_required', lost: true } },
  { id: 'v-hang', step: 'validate', fault: 'hang past the client timeout', inject: on('validate', { kind: 'hang', ms: 2_500 }), extauth: { ...served, exchanges: 1 } },
  { id: 'v-html', step: 'validate', fault: 'HTML page with 200', inject: on('validate', { kind: 'malformed', shape: 'html_200' }), extauth: { ...served, exchanges: 1 }, reference: { ...served } },
  { id: 'v-big', step: 'validate', fault: '4 MiB body', inject: on('validate', { kind: 'malformed', shape: 'oversized' }), extauth: { ...served, exchanges: 1 }, reference: { first: 'error', second: 'reauth_required', lost: true } },
  { id: 'v-utf8', step: 'validate', fault: 'non-UTF-8 body', inject: on('validate', { kind: 'malformed', shape: 'non_utf8' }), extauth: { ...served, exchanges: 1 }, reference: { first: 'error', second: 'reauth_required', lost: true } },
  {
    id: 'v-reuse-5xx', step: 'validate', fault: '502 twice on a reuse-detecting provider (no grace)', reuse: {}, inject: on('validate', { kind: 'status', status: 502 }, 2),
    extauth: { ...served, exchanges: 1 }, reference: { first: 'error', second: 'reauth_required', lost: false, tripped: true },
  },
  {
    id: 'v-budget', step: 'validate', fault: '500 past the validation budget, then recovers', clearBetween: true, tuning: { validateBudgetMs: 3_000 }, inject: on('validate', { kind: 'status', status: 500 }, 500),
    extauth: { first: 'provider_unavailable', second: 'served', lost: false, tripped: false, exchanges: 1 }, reference: { first: 'error', second: 'reauth_required', lost: true },
  },
];

let world: World;
let reference: Parameters<typeof referenceGetToken>[0];
const results: { row: Row; extauth: Result; reference?: Result }[] = [];

beforeAll(async () => {
  // Plaintext rows: the reference algorithm (bench/reference) reads the table as the original code did, with no key.
  world = await startWorld({ tokenCipher: null });
  const [config] = parseProviders([{ id: world.providerId, type: 'github', clientId: world.provider.clientId, clientSecret: world.provider.clientSecret, tokenUrl: world.provider.tokenUrl, validateUrl: world.provider.validateUrl }]);
  reference = { pool: world.pool, http: createProviderHttpClient(), provider: config! };
});
afterAll(async () => {
  expect(world.leakedTokens()).toEqual([]);
  // No input of this matrix may crash a workflow task into a retry loop.
  expect(logLines.filter((l) => l.includes('Failing workflow task'))).toEqual([]);
  await reference.http.close();
  await world.stop();
  results.sort((a, b) => ROWS.indexOf(a.row) - ROWS.indexOf(b.row));
  const table = [
    '| step | fault | extauth: 1st / 2nd request | lost | reference: 1st / 2nd request | lost |',
    '|---|---|---|---|---|---|',
    ...results.map(({ row, extauth, reference: ref }) =>
      `| ${row.step} | ${row.fault} | ${extauth.first} / ${extauth.second} | ${extauth.lost ? (row.documented ? 'documented' : 'YES') : 0} | ${ref ? `${ref.first} / ${ref.second}` : 'n/a'} | ${ref ? (ref.tripped ? 'YES (family revoked)' : ref.lost ? 'YES' : 0) : ''} |`,
    ),
  ].join('\n');
  console.log(`\nfault matrix (provider faults)\n${table}\n`);
  if (process.env.EXTAUTH_FAULT_MATRIX_OUT) {
    mkdirSync(dirname(process.env.EXTAUTH_FAULT_MATRIX_OUT), { recursive: true });
    writeFileSync(process.env.EXTAUTH_FAULT_MATRIX_OUT, `${table}\n`);
  }
});

async function outcome(call: () => Promise<{ accessToken: string }>): Promise<Outcome> {
  try {
    const { accessToken } = await call();
    // An agent must never receive a token the provider no longer honours.
    return world.provider.isAccessTokenValid(accessToken) ? 'served' : 'stale_token';
  } catch (err) {
    if (err instanceof ExtauthError) return err.code === 'reauth_required' || err.code === 'provider_unavailable' ? err.code : 'error';
    throw err;
  }
}

async function settle(family: string, first: Outcome, second: Outcome): Promise<Result> {
  const live = world.provider.liveRefreshToken(family);
  const row = await world.row(family);
  return {
    first,
    second,
    lost: live !== undefined && row.refreshToken !== live,
    tripped: world.provider.stats.trippedFamilies.has(family),
    exchanges: world.provider.stats.tokenCallsByFamily.get(family) ?? 0,
  };
}

async function runExtauth(row: Row): Promise<Result> {
  const family = uniqueUser(row.id);
  world.provider.setReuseDetection(family, row.reuse ?? false);
  await world.seedLink(family, { expiresInSeconds: -10 });
  row.inject(world.provider, family);
  const client = new TunedExtauthClient(world.temporal, { taskQueue: world.taskQueue }, { ...FAST_TUNING, ...ROOMY, ...row.tuning });
  const get = () => client.getToken({ provider: world.providerId, user: family, minValidSeconds: 60 });
  const first = await outcome(get);
  if (row.clearBetween) world.provider.clearFaults(family);
  const second = await outcome(get);
  const result = await settle(family, first, second);
  if (row.documented) {
    const stored = await world.row(family);
    expect(stored.failureReason).toMatch(row.documented);
  }
  return result;
}

async function runReference(row: Row): Promise<Result> {
  const family = uniqueUser(`ref-${row.id}`);
  world.provider.setReuseDetection(family, row.reuse ?? false);
  await world.seedLink(family, { expiresInSeconds: -10 });
  row.inject(world.provider, family);
  const call = async (): Promise<Outcome> => {
    const answer = await referenceGetToken(reference, world.key(family));
    if (answer.ok) return world.provider.isAccessTokenValid(answer.accessToken) ? 'served' : 'stale_token';
    return answer.reauthRequired ? 'reauth_required' : 'error';
  };
  const first = await call();
  if (row.clearBetween) world.provider.clearFaults(family);
  // The reference's own retry is the agent asking again once the provider has recovered.
  await new Promise((r) => setTimeout(r, 200));
  const second = await call();
  return settle(family, first, second);
}

describe.concurrent('provider fault matrix', () => {
  it.each(ROWS.map((row) => [`${row.step}: ${row.fault}`, row] as const))('%s', async (_name, row) => {
    const [extauth, ref] = await Promise.all([runExtauth(row), row.reference ? runReference(row) : undefined]);
    results.push({ row, extauth, reference: ref });
    expect(extauth).toMatchObject(row.extauth);
    if (row.reference) expect(ref).toMatchObject(row.reference);
  });
});

describe('after a permanent refusal', () => {
  it('the stored access token is not served once the provider refused the grant (it may be revoked too)', async () => {
    // Okta-style: a reuse trip or a revoked grant kills the access tokens with the refresh token.
    const family = uniqueUser('after-refusal');
    const seeded = await world.seedLink(family, { expiresInSeconds: 20, lifetimeSeconds: 3_600 });
    world.provider.revokeFamily(family);
    world.provider.revokeAccessToken(seeded.accessToken);
    // Agents hold the stored token under its told expiry: a request for more life than it has gets it with the life it
    // has (test/told-expiry.test.ts), and no provider call learns of the revocation yet.
    const held = await world.client.getToken({ provider: world.providerId, user: family, minValidSeconds: 60 });
    expect(held.accessToken).toBe(seeded.accessToken);
    // An agent whose call got a 401 says so: the run asks the provider, the grant is refused, the link needs re-authentication.
    const err = await agentError(world.client.getToken({ provider: world.providerId, user: family, minValidSeconds: 60, rejectedFingerprint: fingerprint(seeded.accessToken) }));
    expect(err.code).toBe('reauth_required');
    // From then on the dead token is served to nobody, however little life a request asks for.
    const short = await agentError(world.client.getToken({ provider: world.providerId, user: family, minValidSeconds: 5 }));
    expect(short.code).toBe('reauth_required');
  });
});
