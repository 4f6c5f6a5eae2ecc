// The workflow cache is bounded by memory when a budget is known (worker.ts cacheOption), else left to the SDK.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { cachedWorkflowsWithin, cacheOption } from '../worker/cache.js';
import { tuneWorkflowThreadMemory } from '../worker/memory.js';

const GiB = 2 ** 30;

describe('workflow cache size', () => {
  it('an explicit size or EXTAUTH_MAX_CACHED_WORKFLOWS wins; a bad value is refused naming the variable', () => {
    expect(cacheOption(5, { EXTAUTH_WORKER_MEMORY_MB: '1000' }, 8 * GiB)).toEqual({ maxCachedWorkflows: 5 });
    expect(cacheOption(undefined, { EXTAUTH_MAX_CACHED_WORKFLOWS: '0' }, 8 * GiB)).toEqual({ maxCachedWorkflows: 0 });
    expect(() => cacheOption(undefined, { EXTAUTH_MAX_CACHED_WORKFLOWS: '-1' })).toThrow(/EXTAUTH_MAX_CACHED_WORKFLOWS/);
  });

  it('EXTAUTH_WORKER_MEMORY_MB sizes it from the steady state of a worker that served links: 300 MB holds 300 runs, never fewer than 10', () => {
    expect(cacheOption(undefined, { EXTAUTH_WORKER_MEMORY_MB: '300' }, 0)).toEqual({ maxCachedWorkflows: cachedWorkflowsWithin(300) });
    // (300 − 210 MB steady) / 0.3 MB per run (bench P5, docs/performance.md "Worker memory, measured").
    expect(cachedWorkflowsWithin(300)).toBe(300);
    expect(cachedWorkflowsWithin(1024)).toBe(2713);
    expect(cachedWorkflowsWithin(211)).toBe(10);
    expect(() => cacheOption(undefined, { EXTAUTH_WORKER_MEMORY_MB: '210' }, 0)).toThrow(/EXTAUTH_WORKER_MEMORY_MB must be an integer above 210/);
    expect(() => cacheOption(undefined, { EXTAUTH_WORKER_MEMORY_MB: '300MB' }, 0)).toThrow(/EXTAUTH_WORKER_MEMORY_MB must be an integer above 210 .*got 300MB/);
  });

  it('the budget wins over a container limit, and a limit too small for a worker still leaves the floor of 10 runs', () => {
    expect(cacheOption(undefined, { EXTAUTH_WORKER_MEMORY_MB: '300' }, 8 * GiB)).toEqual({ maxCachedWorkflows: 300 });
    expect(cacheOption(undefined, {}, 256 * 2 ** 20)).toEqual({ maxCachedWorkflows: 10 });
  });

  it("a container's memory limit sizes it from half the limit; without a limit the SDK's default applies", () => {
    expect(cacheOption(undefined, {}, 1 * GiB)).toEqual({ maxCachedWorkflows: cachedWorkflowsWithin(512) });
    expect(cacheOption(undefined, {}, 0)).toEqual({});
    expect(cacheOption(undefined, {}, 2 ** 64)).toEqual({}); // what Node reports when no limit is set
  });
});

/** The young generation (MB) of a new worker thread after it allocated a few hundred MB of short-lived objects, as workflow activations do. */
function youngGenerationOfNewThreadMB(): Promise<number> {
  const code = `
    const v8 = require('node:v8');
    let kept = [];
    for (let round = 0; round < 200; round++) {
      const garbage = [];
      for (let i = 0; i < 20000; i++) garbage.push({ i, s: 'x' + i });
      kept.push(garbage.slice(0, 100));
    }
    const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    require('node:worker_threads').parentPort.postMessage(space.space_size / 2 ** 20);`;
  return new Promise((resolve, reject) => {
    const thread = new Worker(code, { eval: true });
    thread.once('message', (mb: number) => void thread.terminate().then(() => resolve(mb)));
    thread.once('error', reject);
  });
}

describe("the workflow thread's memory (worker/memory.ts)", () => {
  it('extauth worker gives the isolates it creates afterwards 2 MB semi-spaces instead of growing to 2 × 16 MB', async () => {
    // Control first (V8 flags are per process and this file has its own): V8's default young generation grows to 32 MB.
    expect(await youngGenerationOfNewThreadMB()).toBeGreaterThan(8);
    tuneWorkflowThreadMemory();
    expect(await youngGenerationOfNewThreadMB()).toBeLessThanOrEqual(4);
  });
});
