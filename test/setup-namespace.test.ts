// `extauth setup-namespace` prepares a namespace on any cluster: creates it with the retention asked, registers
// extauth's search attributes (retrying the seconds after creation when the namespace is not yet visible), and
// prints the dynamic config it cannot set. Run twice, it changes nothing. (Harvested from the `cluster` branch.)
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NativeConnection } from '@temporalio/worker';
import { inject, it, expect } from 'vitest';
import { EXTAUTH_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', 'bin/extauth.js');

it('creates the namespace with its retention, registers the search attributes, prints the dynamic config; a second run keeps the retention', async () => {
  const namespace = `setup-ns-${process.pid}-${Date.now()}`;
  const address = inject('temporalAddress');
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace, EXTAUTH_DATA_DIR: '/nonexistent-extauth' };
  const connection = await NativeConnection.connect({ address });
  try {
    // Control: before the command, the namespace does not exist (the checks below would fail on it).
    await expect(connection.workflowService.describeNamespace({ namespace })).rejects.toThrow(/not found/i);
    const listed = async () => (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};

    const first = await run(process.execPath, [BIN, 'setup-namespace', '--retention-days', '3'], { env });
    expect(first.stdout).toContain(`namespace ${namespace}: created, retention 3 d`);
    expect(first.stdout).toContain(`namespace ${namespace}: search attributes ExtauthProvider, ExtauthUser, ExtauthState registered`);
    expect(first.stdout).toContain('system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute: 2');
    expect(first.stdout).toContain(`- constraints: { namespace: "${namespace}" }`);
    expect(first.stdout).toContain('history.maxInFlightUpdates');

    const described = await connection.workflowService.describeNamespace({ namespace });
    expect(Number(described.config?.workflowExecutionRetentionTtl?.seconds)).toBe(3 * 86_400);
    const attributes = await listed();
    for (const key of EXTAUTH_SEARCH_ATTRIBUTES) expect(attributes[key.name]).toBeDefined();

    const second = await run(process.execPath, [BIN, 'setup-namespace', '--retention-days', '9'], { env });
    expect(second.stdout).toContain(`namespace ${namespace}: exists (its retention is left as it is)`);
    const again = await connection.workflowService.describeNamespace({ namespace });
    expect(Number(again.config?.workflowExecutionRetentionTtl?.seconds)).toBe(3 * 86_400);
  } finally {
    await connection.close();
  }
});

it('says what to do when Temporal cannot be reached (exit 1), or is not named (no dev.json fallback)', async () => {
  const base = { PATH: process.env.PATH ?? '', HOME: '/tmp', EXTAUTH_DATA_DIR: '/nonexistent-extauth' };
  const fail = (env: Record<string, string>) =>
    run(process.execPath, [BIN, 'setup-namespace'], { env }).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
  const unreachable = await fail({ ...base, TEMPORAL_ADDRESS: '127.0.0.1:1' });
  expect(unreachable?.code).toBe(1);
  expect(unreachable?.stderr).toContain('cannot reach Temporal at 127.0.0.1:1');
  expect(unreachable?.stderr).toContain('TEMPORAL_TLS_*');
  const unnamed = await fail(base);
  expect(unnamed?.code).toBe(1);
  expect(unnamed?.stderr).toContain('set TEMPORAL_ADDRESS');
});
