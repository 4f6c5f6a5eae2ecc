// Where a process's RSS goes (Linux): the V8 heap of the calling isolate from process.memoryUsage, and the rest
// classified from /proc/self/smaps. Node 20 cannot read a worker thread's heap from outside, so the workflow
// thread's V8 heap shows up only in `otherAnonMB` (anonymous memory that is neither glibc's brk heap nor a
// glibc arena); the classification is by mapping shape, so it is an estimate, and the figures say so.
import { readFileSync, readdirSync } from 'node:fs';

export interface MemoryBreakdown {
  rssMB: number;
  /** process.memoryUsage of the calling (main) isolate. */
  mainHeapUsedMB: number;
  mainHeapTotalMB: number;
  externalMB: number;
  arrayBuffersMB: number;
  /** Resident file-backed mappings: the node binary, shared libraries, the Temporal core's .node module. */
  fileMB: number;
  /** glibc's main arena (the brk heap, `[heap]`). */
  brkHeapMB: number;
  /** glibc's secondary arenas: anonymous mappings inside a 64 MiB-aligned reservation (HEAP_MAX_SIZE). */
  arenaMB: number;
  arenas: number;
  /** Every other anonymous mapping: V8 heaps of all isolates (main, workflow thread, loader hooks), stacks, mmap'd large allocations. */
  otherAnonMB: number;
  threads: number;
}

const MB = 2 ** 20;
const ARENA = 64 * MB;
const round = (x: number) => Math.round(x * 10) / 10;

export function memoryBreakdown(): MemoryBreakdown {
  const m = process.memoryUsage();
  let file = 0;
  let brk = 0;
  let arena = 0;
  let other = 0;
  const arenaStarts = new Set<number>();
  let current: { start: number; kind: 'file' | 'brk' | 'anon' | 'skip' } | undefined;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (header) {
      const start = parseInt(header[1]!, 16);
      const inode = header[3]!;
      const name = header[4]!;
      const kind = name === '[heap]' ? 'brk' : inode !== '0' || name.startsWith('/') ? 'file' : name.startsWith('[') ? 'skip' : 'anon';
      current = { start, kind };
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss || !current) continue;
    const bytes = Number(rss[1]) * 1024;
    if (current.kind === 'file') file += bytes;
    else if (current.kind === 'brk') brk += bytes;
    else if (current.kind === 'anon') {
      // A glibc arena heap starts at a 64 MiB-aligned address and holds its own header there.
      if (current.start % ARENA === 0 && bytes > 0) {
        arena += bytes;
        arenaStarts.add(current.start);
      } else other += bytes;
    }
  }
  let threads = 0;
  try {
    threads = readdirSync('/proc/self/task').length;
  } catch {
    threads = NaN;
  }
  return {
    rssMB: round(m.rss / MB),
    mainHeapUsedMB: round(m.heapUsed / MB),
    mainHeapTotalMB: round(m.heapTotal / MB),
    externalMB: round(m.external / MB),
    arrayBuffersMB: round(m.arrayBuffers / MB),
    fileMB: round(file / MB),
    brkHeapMB: round(brk / MB),
    arenaMB: round(arena / MB),
    arenas: arenaStarts.size,
    otherAnonMB: round(other / MB),
    threads,
  };
}
