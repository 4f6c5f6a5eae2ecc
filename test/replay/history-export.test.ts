// `extauth history export` writes a run's history as replayable JSON whose payloads stay encrypted:
// exporting needs no key, replaying needs the key the run was encrypted with.
import { Worker } from '@temporalio/worker';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { historyFromJSONText } from '../../cli/commands/history.js';
import { extauthDataConverter } from '../../codec/data-converter.js';
import { makeCodecKeys, parseCodecKey } from '../../codec/keys.js';
import { runCli } from '../support/cli.js';
import { startWorld, uniqueUser, type World } from '../support/world.js';
import { fixtureCodecKeys, scheduledActivities, secretsIn, unencryptedPayloads } from './fixture.js';

let world: World;
let env: Record<string, string>;
const dir = mkdtempSync(join(tmpdir(), 'extauth-history-export-'));

beforeAll(async () => {
  world = await startWorld();
  // No EXTAUTH_CODEC_KEY: the export reads raw history and decrypts nothing.
  env = { TEMPORAL_ADDRESS: inject('temporalAddress'), EXTAUTH_TASK_QUEUE: world.taskQueue, EXTAUTH_DATA_DIR: join(dir, 'data') };
});
afterAll(async () => {
  await world.stop();
});

const link = (user: string) => ['--provider', world.providerId, '--user', user];
const replayOptions = (keys = makeCodecKeys(parseCodecKey(inject('codecKey'), 'codecKey'))) => ({
  workflowBundle: { codePath: inject('workflowBundlePath') },
  dataConverter: extauthDataConverter(keys),
});

describe('extauth history export', () => {
  it('exports a refresh run as encrypted JSON that replays with the run key', async () => {
    const user = uniqueUser('export');
    await world.seedLink(user, { expiresInSeconds: -5 });
    world.provider.injectFault('validate', { kind: 'status', status: 502 }, { familyId: user });
    await world.client.getToken({ provider: world.providerId, user });
    await world.client.getToken({ provider: world.providerId, user });

    const file = join(dir, `${user}.json`);
    const result = await runCli(['history', 'export', ...link(user), '-o', file], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`to ${file}`);
    expect(statSync(file).mode & 0o777).toBe(0o600); // ids, timings and failure reasons are the operator's only
    const text = readFileSync(file, 'utf8');
    expect(scheduledActivities(text)).toContain('exchangeRefreshToken');
    expect(unencryptedPayloads(text)).toEqual([]);
    expect(secretsIn(text, world.provider.issuedTokens())).toEqual([]);

    await Worker.runReplayHistory(replayOptions(), historyFromJSONText(text), `export-${user}`);
  });

  it('an existing export file is closed to 0600 too (open() modes apply only on creation)', async () => {
    const user = uniqueUser('mode');
    await world.seedLink(user, { expiresInSeconds: 3600 });
    await world.client.getToken({ provider: world.providerId, user });
    const file = join(dir, `${user}.json`);
    writeFileSync(file, 'old', { mode: 0o644 });
    expect(statSync(file).mode & 0o777).toBe(0o644); // control: the file really was world-readable
    const result = await runCli(['history', 'export', ...link(user), '-o', file], env);
    expect(result.code, result.stderr).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('--run-id picks a run; --json reports it; a wrong key cannot replay it', async () => {
    const user = uniqueUser('runid');
    await world.seedLink(user, { expiresInSeconds: 3600 });
    await world.client.getToken({ provider: world.providerId, user });
    const { runId } = await world.temporal.workflow.getHandle(`extauth-link:${world.providerId}:${user}`).describe();
    const file = join(dir, `${user}.json`);
    const result = await runCli(['history', 'export', ...link(user), '-o', file, '--run-id', runId, '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ runId, status: 'WORKFLOW_EXECUTION_STATUS_RUNNING', file });
    const history = historyFromJSONText(readFileSync(file, 'utf8'));
    await Worker.runReplayHistory(replayOptions(), history, `export-${user}`);
    const wrongKey = await Worker.runReplayHistory(replayOptions(fixtureCodecKeys()), history, `export-wrong-key-${user}`).then(
      () => undefined,
      (err: Error) => err,
    );
    // The payloads cannot be decoded: a workflow task failure, not a determinism violation.
    expect(wrongKey?.name).toBe('ReplayError');
  });

  it('exits 5 for a link without a run, 2 without -o', async () => {
    const missing = await runCli(['history', 'export', ...link(uniqueUser('ghost')), '-o', join(dir, 'ghost.json'), '--json'], env);
    expect(missing.code, missing.stderr).toBe(5);
    expect(JSON.parse(missing.stdout).code).toBe('link_not_found');
    const usage = await runCli(['history', 'export', ...link('u')], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('history export');
  });
});
