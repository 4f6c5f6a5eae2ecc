// Proof that the replay suite can fail: the same histories against a linkWorkflow with one extra timer
// before the exchange must fail with a DeterminismViolationError exactly where a refresh was recorded.
import { Worker, type ReplayResult } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { extauthDataConverter } from '../../codec/data-converter.js';
import { bundleBrokenWorkflow, bundleVariant, unguardedPatch } from './broken-workflow/build.js';
import { fixtureCodecKeys, historyFiles, quietReplayRuntime, readHistoryFile, scheduledActivities } from './fixture.js';

quietReplayRuntime();

const files = historyFiles();
const results = new Map<string, ReplayResult>();

beforeAll(async () => {
  const code = await bundleBrokenWorkflow();
  const replay = Worker.runReplayHistories(
    { workflowBundle: { code }, dataConverter: extauthDataConverter(fixtureCodecKeys()) },
    files.map((f) => ({ workflowId: f.workflowId, history: f.history })),
  );
  for await (const result of replay) results.set(result.workflowId, result);
}, 240_000);

const withExchange = files.filter((f) => scheduledActivities(f.text).includes('exchangeRefreshToken'));
const withoutExchange = files.filter((f) => !withExchange.includes(f));

describe('replay against a deliberately changed workflow', () => {
  it('most recorded histories include a refresh, some do not', () => {
    expect(withExchange.length).toBeGreaterThanOrEqual(8);
    expect(withoutExchange.map((f) => f.name)).toContain('fresh-token');
  });

  it.each(withExchange.map((f) => [f.name, f] as const))('%s (recorded a refresh) fails with a DeterminismViolationError', (_name, file) => {
    const error = results.get(file.workflowId)?.error;
    expect(error?.name).toBe('DeterminismViolationError');
  });

  it.each(withoutExchange.map((f) => [f.name, f] as const))('%s (no refresh) still replays', (_name, file) => {
    const result = results.get(file.workflowId);
    expect(result).toBeDefined();
    expect(result!.error?.message).toBeUndefined();
  });
});

describe('the patch example without its patched() guard', () => {
  it('breaks the history recorded before the patch: that is why the guard is there', async () => {
    const code = await bundleVariant(unguardedPatch);
    const old = files.find((f) => f.name === 'skip-unchecked-validation.old')!;
    const replay = Worker.runReplayHistories(
      { workflowBundle: { code }, dataConverter: extauthDataConverter(fixtureCodecKeys()) },
      [{ workflowId: old.workflowId, history: readHistoryFile(old.path).history }],
    );
    const outcomes: ReplayResult[] = [];
    for await (const result of replay) outcomes.push(result);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]!.error?.name).toBe('DeterminismViolationError');
  }, 240_000);
});
