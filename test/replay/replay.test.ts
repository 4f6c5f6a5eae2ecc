// Every recorded history (test/replay/histories/*.json) must replay against the current workflow code:
// a change that alters the commands a recorded run issued fails here, before it reaches a worker.
import { Worker, type ReplayResult } from '@temporalio/worker';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { extauthDataConverter } from '../../codec/data-converter.js';
import { fixtureCodecKeys, historyFiles, quietReplayRuntime, secretsIn, unencryptedPayloads } from './fixture.js';

quietReplayRuntime();

const files = historyFiles();
const results = new Map<string, ReplayResult>();

beforeAll(async () => {
  const replay = Worker.runReplayHistories(
    { workflowBundle: { codePath: inject('workflowBundlePath') }, dataConverter: extauthDataConverter(fixtureCodecKeys()) },
    files.map((f) => ({ workflowId: f.workflowId, history: f.history })),
  );
  for await (const result of replay) results.set(result.workflowId, result);
}, 180_000);

/** Markers of a history in order: core_local_activity (a local activity's result) or core_patch. */
function markers(text: string): string[] {
  const json = JSON.parse(text) as { events: { markerRecordedEventAttributes?: { markerName?: string } }[] };
  return json.events.flatMap((e) => (e.markerRecordedEventAttributes ? [e.markerRecordedEventAttributes.markerName ?? ''] : []));
}

describe('the patch example of docs/versioning.md (skip-unchecked-validation)', () => {
  const old = files.find((f) => f.name === 'skip-unchecked-validation.old');
  const patched = files.find((f) => f.name === 'skip-unchecked-validation');

  it('the old history (before the patch) validated on both refreshes and has no patch marker', () => {
    expect(markers(old!.text)).not.toContain('core_patch');
    // load, then persist + validate for each of the two refreshes
    expect(markers(old!.text).filter((m) => m === 'core_local_activity')).toHaveLength(5);
  });

  it('the new history (with the patch) records the patch marker instead of the second validation', () => {
    expect(markers(patched!.text).filter((m) => m === 'core_patch')).toHaveLength(1);
    expect(markers(patched!.text).filter((m) => m === 'core_local_activity')).toHaveLength(4);
    // the marker's id is core metadata (plain JSON, base64 in the file; the link's user has the same name)
    expect(secretsIn(patched!.text, ['skip-unchecked-validation'])).toEqual(['skip-unchecked-validation']);
  });

  it('both replay against the current code', () => {
    for (const file of [old!, patched!]) expect(results.get(file.workflowId)?.error?.message, file.name).toBeUndefined();
  });
});

describe('recorded histories replay against the current workflow code', () => {
  it('the folder holds the recorded scenarios', () => {
    const names = files.map((f) => f.name);
    for (const scenario of ['plain-refresh', 'fresh-token', 'validation-retries', 'permanent-failure', 'concurrent-agents', 'relink-after-failure', 'idle-finish.run1', 'worker-crash', 'skip-unchecked-validation.old', 'skip-unchecked-validation']) {
      expect(names).toContain(scenario);
    }
  });

  it.each(files.map((f) => [f.name, f] as const))('%s replays without nondeterminism', (_name, file) => {
    const result = results.get(file.workflowId);
    expect(result, 'replayed').toBeDefined();
    expect(result!.error?.message).toBeUndefined();
  });

  it.each(files.map((f) => [f.name, f] as const))('%s holds only encrypted payloads', (_name, file) => {
    expect(unencryptedPayloads(file.text)).toEqual([]);
  });
});
