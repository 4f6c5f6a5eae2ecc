// The worker's memory levers that a process can pull on itself: V8 flags for the isolates it creates from now on.
import v8 from 'node:v8';

/**
 * V8 flags for the workflow thread, where the cached link runs live (the SDK runs workflows in a worker thread,
 * a V8 isolate of its own created when the worker is). V8 reads these when it creates an isolate, so setting them
 * before Worker.create shapes that thread's heap; the main isolate keeps the flags it started with (give it the
 * same on the command line: deploy/, docs/deployment.md). Measured in bench P5 (docs/performance.md, "Worker memory,
 * measured"):
 * - `--max-semi-space-size=2` (MB): the young generation of a busy isolate otherwise grows to 2 × 16 MB and keeps it;
 *   workflow activations allocate short-lived objects, and 2 MB semi-spaces hold them at no measurable latency cost.
 * - `--optimize-for-size`: V8 grows the old generation less eagerly and shrinks it back after collections, so the heap
 *   the evicted runs left behind is returned instead of kept.
 */
export const WORKFLOW_THREAD_V8_FLAGS = ['--max-semi-space-size=2', '--optimize-for-size'] as const;

/** Applies WORKFLOW_THREAD_V8_FLAGS to isolates created from now on; call before creating the worker. */
export function tuneWorkflowThreadMemory(): void {
  for (const flag of WORKFLOW_THREAD_V8_FLAGS) v8.setFlagsFromString(flag);
}
