// The link run's decisions around `link delete` without an engine (workflows/link-state.ts): the delete goes before any
// other work, and once the link is deleted every request is answered link_not_found and the run finishes.
// test/link-delete.test.ts proves the same against real servers.
import { describe, expect, it } from 'vitest';
import type { LinkSnapshot } from '../core/types.js';
import { LinkRun, linkDeleted, nextStep, type DeleteAsk, type DescribeAsk, type ForceAsk, type TokenAsk } from '../workflows/link-state.js';
import { DEFAULT_TUNING } from '../workflows/policies.js';

const T0 = Date.parse('2026-12-01T12:00:00Z');
const link: LinkSnapshot = {
  providerType: 'github',
  version: 1,
  accessToken: 'gho_current',
  tokenType: 'bearer',
  expiresAt: new Date(T0 + 3_600_000).toISOString(),
  lifetimeSeconds: 8 * 3600,
  hasRefreshToken: true,
  accessTokenFingerprint: 'aaaaaaaaaaaa',
  refreshTokenFingerprint: 'bbbbbbbbbbbb',
  failureReason: '',
  lastRefreshedAt: null,
  refreshTokenExpiresAt: null,
  schedule: { refreshAheadSeconds: 0, activeWindowSeconds: 3600, keepAliveSeconds: 0, refreshTokenWarnSeconds: 0, refreshEndsOldAccessToken: false },
};

const newRun = (loaded = true) => {
  const run = new LinkRun({ providerId: 'github', userId: 'alice' }, DEFAULT_TUNING, T0);
  if (loaded) run.loaded(link);
  return run;
};
const tokenAsk = (): TokenAsk => ({ kind: 'token', request: { minValidSeconds: 30, nowMs: T0 }, reportChecked: true, rounds: 0 });
const deleteAsk = (): DeleteAsk => ({ kind: 'delete', request: { revoke: true } });

describe('link delete in the run', () => {
  it('the delete goes first: before a re-link reload, a load, a forced refresh and a refresh', () => {
    const unloaded = newRun(false);
    unloaded.enqueue(tokenAsk(), T0);
    const ask = unloaded.enqueue(deleteAsk());
    expect(nextStep(unloaded, T0, T0)).toEqual({ kind: 'delete', ask });

    const loaded = newRun();
    loaded.relinked(T0);
    loaded.enqueue<ForceAsk>({ kind: 'force', nowMs: T0 }, T0);
    const second = loaded.enqueue(deleteAsk());
    expect(nextStep(loaded, T0, T0)).toEqual({ kind: 'delete', ask: second });
    // Control: without the delete the same run reloads first.
    loaded.asks = loaded.asks.filter((a) => a !== second);
    expect(nextStep(loaded, T0, T0).kind).toBe('reload');
  });

  it('once deleted, every request (queued or later) is answered link_not_found, nothing is cached, and the run finishes even with agents waiting for a re-link', () => {
    const run = newRun();
    const token = run.enqueue(tokenAsk(), T0);
    const describe = run.enqueue<DescribeAsk>({ kind: 'describe' });
    const own = run.enqueue(deleteAsk());
    own.answer = { value: { deleted: true } };
    run.deleted = true;
    run.waitingForRelink = 1;
    run.failAll(linkDeleted(run.key));
    expect(own.answer).toEqual({ value: { deleted: true } }); // the delete's own answer is kept
    for (const ask of [token, describe]) expect(ask.answer).toMatchObject({ error: { type: 'link_not_found' } });
    expect(run.asks).toEqual([]);

    const later = run.enqueue(tokenAsk(), T0);
    run.settle(T0, () => run.status());
    expect(later.answer).toMatchObject({ error: { type: 'link_not_found', message: expect.stringMatching(/it was deleted/) } });
    expect(run.cached(T0)).toBeNull();
    expect(nextStep(run, T0, T0)).toEqual({ kind: 'finish' });
  });

  it('control: the same requests on a run that was not deleted are served', () => {
    const run = newRun();
    const token = run.enqueue(tokenAsk(), T0);
    run.settle(T0, () => run.status());
    expect(token.answer).toMatchObject({ value: { accessToken: 'gho_current' } });
    expect(run.cached(T0)).not.toBeNull();
  });
});
