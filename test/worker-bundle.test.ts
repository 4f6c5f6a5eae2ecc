// `extauth worker` bundles its workflows in a child process (worker/bundle.ts) so that webpack's memory leaves with it.
import { describe, expect, it } from 'vitest';
import { bundleLinkWorkflows } from '../worker.js';
import { bundlerEnv, bundleWorkflowsInChild } from '../worker/bundle.js';

describe('the workflow bundle built in a child process', () => {
  it('is the bundle the worker would build itself', async () => {
    const [apart, inProcess] = await Promise.all([bundleWorkflowsInChild(), bundleLinkWorkflows()]);
    expect(apart.length).toBeGreaterThan(100_000);
    expect(apart).toBe(inProcess);
  }, 120_000);

  it("the child gets no key, database URL or other secret of the worker's environment", () => {
    const env = { PATH: '/usr/bin', HOME: '/home/x', EXTAUTH_CODEC_KEY: 'k1', EXTAUTH_WORKER_KEY: 'k2', EXTAUTH_DB_KEY: 'k3', DATABASE_URL: 'postgres://u:p@h/db', TEMPORAL_API_KEY: 'k4' };
    expect(bundlerEnv(env)).toEqual({ PATH: '/usr/bin', HOME: '/home/x' });
    // Control: the environment it is given does hold them.
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['EXTAUTH_CODEC_KEY', 'DATABASE_URL']));
  });
});
