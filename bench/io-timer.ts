// Postgres statements and provider HTTP calls timed inside a process (the bench's worker child), for P2's breakdown:
// each statement by its first words, each HTTP call by its path, from its start to its last byte.
import diagnostics from 'node:diagnostics_channel';
import type { Pool, QueryResult } from 'pg';
import { summarize, type Summary } from './stats.js';

export class IoTimer {
  private samples = new Map<string, number[]>();

  private add(label: string, ms: number): void {
    const list = this.samples.get(label) ?? [];
    list.push(ms);
    this.samples.set(label, list);
  }

  /** `pool` with `query` timed, pool wait included (what an activity waits for). */
  pool(pool: Pool): Pool {
    const timer = this;
    return new Proxy(pool, {
      get(target, prop, receiver) {
        if (prop !== 'query') return Reflect.get(target, prop, receiver);
        return async (text: string, values?: unknown[]): Promise<QueryResult> => {
          const start = performance.now();
          try {
            return await target.query(text, values);
          } finally {
            timer.add(`sql ${text.trim().replace(/\s+/g, ' ').split(' ').slice(0, 3).join(' ')}`, performance.now() - start);
          }
        };
      },
    });
  }

  /** Every undici request of this process (the provider calls), by undici's diagnostics channels. */
  http(): void {
    const started = new WeakMap<object, { at: number; path: string }>();
    diagnostics.channel('undici:request:create').subscribe((m) => {
      const { request } = m as { request: { path: string } };
      started.set(request, { at: performance.now(), path: request.path.split('?')[0]! });
    });
    diagnostics.channel('undici:request:trailers').subscribe((m) => {
      const s = started.get((m as { request: object }).request);
      if (s) this.add(`http ${s.path}`, performance.now() - s.at);
    });
  }

  /** Each label's count and distribution since the last take. */
  take(): Record<string, Summary> {
    const out = Object.fromEntries([...this.samples].map(([label, xs]) => [label, summarize(xs)]));
    this.samples = new Map();
    return out;
  }
}
