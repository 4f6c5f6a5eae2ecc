// How many link runs a worker keeps in memory: sized from a memory budget so RSS does not grow with the links.

/**
 * Measured in bench P5 at 5,000 links (docs/performance.md, "Worker memory, measured"), with the memory settings of
 * deploy/ (MALLOC_ARENA_MAX=2, the V8 flags of worker/memory.ts on both isolates, the bundle built apart):
 * - a worker that has served links holds 216 MB with 50 runs cached and 301 MB with 333: 0.30 MB per cached run
 *   (0.17 MB of the Temporal core's native memory, 0.1 MB of the workflow thread's heap), on a base of 201 MB;
 * - an idle worker holds 161 MB, but its first runs add about 40 MB that stays (compiled code, pools, the core's
 *   buffers), so the idle worker is the wrong base. WORKER_STEADY_RSS_MB is the 201 with 9 MB for GC timing.
 * Without those settings a worker holds about 120 MB more, and 80 MB more again if it bundles its workflows itself
 * (docs/deployment.md, "Worker memory").
 */
const WORKER_STEADY_RSS_MB = 210;
const RSS_MB_PER_CACHED_RUN = 0.3;
/** The SDK's own floor for its default. */
const MIN_CACHED_WORKFLOWS = 10;

/** Link runs a worker can keep in memory within `memoryMB` of RSS: an evicted run is replayed on its next task. */
export function cachedWorkflowsWithin(memoryMB: number): number {
  return Math.max(MIN_CACHED_WORKFLOWS, Math.floor((memoryMB - WORKER_STEADY_RSS_MB) / RSS_MB_PER_CACHED_RUN));
}

/**
 * The workflow cache: `explicit`, else EXTAUTH_MAX_CACHED_WORKFLOWS, else sized from a memory budget
 * (EXTAUTH_WORKER_MEMORY_MB, else half the container's memory limit when there is one), else the SDK's default
 * (from the V8 heap limit, which ignores a container's limit).
 */
export function cacheOption(explicit: number | undefined, env: NodeJS.ProcessEnv = process.env, containerLimitBytes = process.constrainedMemory?.() ?? 0): { maxCachedWorkflows?: number } {
  const fromEnv = env.EXTAUTH_MAX_CACHED_WORKFLOWS;
  const value = explicit ?? (fromEnv ? Number(fromEnv) : undefined);
  if (value !== undefined) {
    if (!Number.isInteger(value) || value < 0) throw new Error(`EXTAUTH_MAX_CACHED_WORKFLOWS must be a non-negative integer, got ${fromEnv}`);
    return { maxCachedWorkflows: value };
  }
  const budget = env.EXTAUTH_WORKER_MEMORY_MB;
  if (budget) {
    const mb = Number(budget);
    if (!Number.isInteger(mb) || mb <= WORKER_STEADY_RSS_MB) throw new Error(`EXTAUTH_WORKER_MEMORY_MB must be an integer above ${WORKER_STEADY_RSS_MB} (MB of worker RSS), got ${budget}`);
    return { maxCachedWorkflows: cachedWorkflowsWithin(mb) };
  }
  // A container limit (cgroup): half of it for the cache's runs and the worker, the rest for activities' peaks.
  if (containerLimitBytes > 0 && containerLimitBytes < Number.MAX_SAFE_INTEGER) return { maxCachedWorkflows: cachedWorkflowsWithin(containerLimitBytes / 2 / 2 ** 20) };
  return {};
}
