// Postgres statements and provider HTTP calls timed inside a process (the bench's worker child), for P2's breakdown:
// each statement by its first words, each HTTP call by its path, from its start to its last byte.
import diagnostics from 'node:diagnostics_channel';
import type { Pool, QueryResult } from 'pg';
import { summarize, type Summary } from './stats.js';

/** When a query was asked, got its connection and was done (wall-clock ms). */
export interface QueryTimes {
  asked: number;
  /** A pool connection was handed over (the time before it is the wait for a free one). */
  connected: number;
  done: number;
}

const wallClockMs = () => performance.timeOrigin + performance.now();

/** `pool` whose `query` connects, queries and releases, as Pool.query does, and reports each statement's times. */
export function timedQueries(pool: Pool, report: (text: string, values: unknown[], times: QueryTimes) => void): Pool {
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver);
      return async (text: string, values?: unknown[]): Promise<QueryResult> => {
        const times: QueryTimes = { asked: wallClockMs(), connected: 0, done: 0 };
        const client = await target.connect();
        times.connected = wallClockMs();
        try {
          return await client.query(text, values);
        } finally {
          client.release();
          times.done = wallClockMs();
          report(text, values ?? [], times);
        }
      };
    },
  });
}

export class IoTimer {
  private samples = new Map<string, number[]>();

  private add(label: string, ms: number): void {
    const list = this.samples.get(label) ?? [];
    list.push(ms);
    this.samples.set(label, list);
  }

  /** `pool` with `query` timed, pool wait included (what an activity waits for). */
  pool(pool: Pool): Pool {
    return timedQueries(pool, (text, _values, times) => this.add(`sql ${text.trim().replace(/\s+/g, ' ').split(' ').slice(0, 3).join(' ')}`, times.done - times.asked));
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
