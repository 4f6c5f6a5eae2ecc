// Every recorded history (test/replay/histories/*.json) must replay against the current workflow code:
// a change that alters the commands a recorded run issued fails here, before it reaches a worker.
import { Worker, type ReplayResult } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { extauthDataConverter } from '../../codec/data-converter.js';
import { fixtureCodecKeys, historyFiles, quietReplayRuntime, unencryptedPayloads } from './fixture.js';

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

/** Markers of a history in order (core_local_activity, core_patch, …). */
function markers(text: string): string[] {
  const json = JSON.parse(text) as { events: { markerRecordedEventAttributes?: { markerName?: string } }[] };
  return json.events.flatMap((e) => (e.markerRecordedEventAttributes ? [e.markerRecordedEventAttributes.markerName ?? ''] : []));
}

describe('no local activities (sdk-workarounds.ts, 1)', () => {
  it.each(files.map((f) => [f.name, f] as const))('%s has no local-activity marker', (_name, file) => {
    expect(markers(file.text).filter((m) => m === 'core_local_activity')).toEqual([]);
  });

  it('control: the pre-1.0 history recorded with local row activities has such markers', () => {
    const old = readFileSync(fileURLToPath(new URL('./fixtures/pre-seal-plain-refresh.json', import.meta.url)), 'utf8');
    expect(markers(old).filter((m) => m === 'core_local_activity').length).toBeGreaterThan(0);
  });
});

describe('recorded histories replay against the current workflow code', () => {
  it('the folder holds the recorded scenarios', () => {
    const names = files.map((f) => f.name);
    for (const scenario of ['plain-refresh', 'fresh-token', 'validation-retries', 'permanent-failure', 'concurrent-agents', 'relink-after-failure', 'idle-finish.run1', 'worker-crash', 'skip-unchecked-validation', 'proactive-refresh', 'keep-alive', 'wait-for-relink', 'continue-as-new.run1']) {
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
