// The workflow cache is bounded by memory when a budget is known (worker.ts cacheOption), else left to the SDK.
import { describe, expect, it } from 'vitest';
import { cachedWorkflowsWithin, cacheOption } from '../worker/cache.js';

const GiB = 2 ** 30;

describe('workflow cache size', () => {
  it('an explicit size or EXTAUTH_MAX_CACHED_WORKFLOWS wins; a bad value is refused naming the variable', () => {
    expect(cacheOption(5, { EXTAUTH_WORKER_MEMORY_MB: '1000' }, 8 * GiB)).toEqual({ maxCachedWorkflows: 5 });
    expect(cacheOption(undefined, { EXTAUTH_MAX_CACHED_WORKFLOWS: '0' }, 8 * GiB)).toEqual({ maxCachedWorkflows: 0 });
    expect(() => cacheOption(undefined, { EXTAUTH_MAX_CACHED_WORKFLOWS: '-1' })).toThrow(/EXTAUTH_MAX_CACHED_WORKFLOWS/);
  });

  it('EXTAUTH_WORKER_MEMORY_MB sizes it: 300 MB of RSS holds about 230 runs, never fewer than 10', () => {
    expect(cacheOption(undefined, { EXTAUTH_WORKER_MEMORY_MB: '300' }, 0)).toEqual({ maxCachedWorkflows: cachedWorkflowsWithin(300) });
    expect(cachedWorkflowsWithin(300)).toBe(233);
    expect(cachedWorkflowsWithin(231)).toBe(10);
    expect(() => cacheOption(undefined, { EXTAUTH_WORKER_MEMORY_MB: '100' }, 0)).toThrow(/EXTAUTH_WORKER_MEMORY_MB must be an integer above 230/);
  });

  it("a container's memory limit sizes it from half the limit; without a limit the SDK's default applies", () => {
    expect(cacheOption(undefined, {}, 1 * GiB)).toEqual({ maxCachedWorkflows: cachedWorkflowsWithin(512) });
    expect(cacheOption(undefined, {}, 0)).toEqual({});
    expect(cacheOption(undefined, {}, 2 ** 64)).toEqual({}); // what Node reports when no limit is set
  });
});
