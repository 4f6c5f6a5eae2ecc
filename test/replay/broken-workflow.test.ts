// Proof that the replay suite can fail, and that the versioning procedure of docs/versioning.md works: the recorded
// histories against a linkWorkflow with one extra timer before the exchange fail with a DeterminismViolationError
// exactly where a refresh was recorded; the same change guarded by patched() replays every one of them.
import { Worker, type ReplayResult } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { extauthDataConverter } from '../../codec/data-converter.js';
import { bundleVariant, guardedChange, unguardedChange } from './broken-workflow/build.js';
import { fixtureCodecKeys, historyFiles, quietReplayRuntime, scheduledActivities } from './fixture.js';

quietReplayRuntime();

const files = historyFiles();

async function replayAll(code: string): Promise<Map<string, ReplayResult>> {
  const results = new Map<string, ReplayResult>();
  const replay = Worker.runReplayHistories(
    { workflowBundle: { code }, dataConverter: extauthDataConverter(fixtureCodecKeys()) },
    files.map((f) => ({ workflowId: f.workflowId, history: f.history })),
  );
  for await (const result of replay) results.set(result.workflowId, result);
  return results;
}

let unguarded: Map<string, ReplayResult>;
let guarded: Map<string, ReplayResult>;

beforeAll(async () => {
  unguarded = await replayAll(await bundleVariant(unguardedChange));
  guarded = await replayAll(await bundleVariant(guardedChange));
}, 300_000);

const withExchange = files.filter((f) => scheduledActivities(f.text).includes('exchangeRefreshToken'));
const withoutExchange = files.filter((f) => !withExchange.includes(f));

describe('replay against a deliberately changed workflow (no patch)', () => {
  // Every link run reaches the exchange call: a run's first step reads the row in the exchange activity, which
  // exchanges only when the requests need it (a fresh read such as fresh-token's exchanges nothing). The sweep does not.
  it('every recorded link run reached the exchange call; the keep-alive sweep and the revocation did not', () => {
    expect(withExchange.length).toBeGreaterThanOrEqual(8);
    expect(withoutExchange.map((f) => f.name).sort()).toEqual(['delete-revoke.revoke', 'keep-alive-sweep.sweep']);
  });

  it.each(withExchange.map((f) => [f.name, f] as const))('%s (recorded an exchange call) fails with a DeterminismViolationError', (_name, file) => {
    expect(unguarded.get(file.workflowId)?.error?.name).toBe('DeterminismViolationError');
  });

  it.each(withoutExchange.map((f) => [f.name, f] as const))('%s (no exchange call) still replays', (_name, file) => {
    const result = unguarded.get(file.workflowId);
    expect(result).toBeDefined();
    expect(result!.error?.message).toBeUndefined();
  });
});

describe('the same change guarded by patched() (docs/versioning.md, the patch lifecycle)', () => {
  it.each(files.map((f) => [f.name, f] as const))('%s replays: runs recorded before the change take the old path', (_name, file) => {
    const result = guarded.get(file.workflowId);
    expect(result).toBeDefined();
    expect(result!.error?.message).toBeUndefined();
  });
});
