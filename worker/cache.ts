// How many link runs a worker keeps in memory: sized from a memory budget so RSS does not grow with the links.

/** bench P5 (docs/performance.md): an idle worker's RSS, and what each cached link run adds to it (the engine's share). */
const WORKER_IDLE_RSS_MB = 230;
const RSS_MB_PER_CACHED_RUN = 0.3;
/** The SDK's own floor for its default. */
const MIN_CACHED_WORKFLOWS = 10;

/** Link runs a worker can keep in memory within `memoryMB` of RSS: an evicted run is replayed on its next task. */
export function cachedWorkflowsWithin(memoryMB: number): number {
  return Math.max(MIN_CACHED_WORKFLOWS, Math.floor((memoryMB - WORKER_IDLE_RSS_MB) / RSS_MB_PER_CACHED_RUN));
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
    if (!Number.isInteger(mb) || mb <= WORKER_IDLE_RSS_MB) throw new Error(`EXTAUTH_WORKER_MEMORY_MB must be an integer above ${WORKER_IDLE_RSS_MB} (MB of worker RSS), got ${budget}`);
    return { maxCachedWorkflows: cachedWorkflowsWithin(mb) };
  }
  // A container limit (cgroup): half of it for the cache's runs and the worker, the rest for activities' peaks.
  if (containerLimitBytes > 0 && containerLimitBytes < Number.MAX_SAFE_INTEGER) return { maxCachedWorkflows: cachedWorkflowsWithin(containerLimitBytes / 2 / 2 ** 20) };
  return {};
}
