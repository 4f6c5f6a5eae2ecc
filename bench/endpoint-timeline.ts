// P3 through the agent endpoint, measured apart: where each agent's request spends its time. The endpoint is given a
// pool that times its queries (a key lookup is found by the key's hash, an audit write by the key id) and the bench
// times each request from send to answer; nothing in the endpoint changes.
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import { agentKeyId } from '../store/agent-keys.js';
import { timedQueries, type QueryTimes } from './io-timer.js';
import { round, summarize, type Summary } from './stats.js';

interface AgentTimes {
  sent?: number;
  lookup?: QueryTimes;
  audit?: QueryTimes;
  answered?: number;
}

/** Each segment's distribution over all agents and rounds, in ms. */
export type EndpointBreakdown = Record<(typeof SEGMENTS)[number], Summary> & { sqlPerRequest: number };

const SEGMENTS = [
  'requestIn', // sent → key lookup asked: HTTP request, body read and parsed
  'lookupPoolWait', // waiting for a pool connection
  'lookupSql', // the SELECT on agent_keys
  'tokenWait', // lookup done → audit asked: ExtauthClient.getToken (shared by the agents of the link) and the fingerprint
  'auditPoolWait',
  'auditSql', // the INSERT into token_audit and its commit
  'answerOut', // audit done → the agent has the body: JSON, HTTP response
  'total',
] as const;

/** Wall-clock ms, comparable across the bench's processes (the endpoint may run in a child process of its own). */
const now = () => performance.timeOrigin + performance.now();
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export class EndpointTimeline {
  private agentByHash = new Map<string, number>();
  private agentByKeyId = new Map<string, number>();
  private current = new Map<number, AgentTimes>();
  private readonly samples: Record<(typeof SEGMENTS)[number], number[]> = Object.fromEntries(SEGMENTS.map((s) => [s, []])) as any;
  private queries = 0;
  private requests = 0;

  /** A round's agents and their keys; the previous round's times are kept. */
  startRound(keys: string[]): void {
    this.flush();
    this.agentByHash = new Map(keys.map((k, agent) => [sha256(k), agent]));
    this.agentByKeyId = new Map(keys.map((k, agent) => [agentKeyId(k)!, agent]));
    this.current = new Map(keys.map((_, agent) => [agent, {}]));
  }

  sent(agent: number): void {
    this.current.get(agent)!.sent = now();
  }

  answered(agent: number): void {
    this.current.get(agent)!.answered = now();
  }

  /** The round's send and answer times, taken in the agents' process (wall clock). */
  agentTimes(sent: number[], answered: number[]): void {
    for (const [agent, t] of this.current) {
      t.sent = sent[agent];
      t.answered = answered[agent];
    }
  }

  /** Wall-clock ms as this timeline reads it. */
  static now = now;

  /** `pool` with its `query` timed: connect, then query, then release, which is what Pool.query does. */
  pool(pool: Pool): Pool {
    return timedQueries(pool, (text, values, times) => this.record(text, values, times));
  }

  private record(text: string, values: unknown[], times: QueryTimes): void {
    this.queries++;
    // A batched query names many keys (an array of hashes, or many key ids): every agent in it shares its times.
    const named = (byValue: Map<string, number>) => values.flat().flatMap((v) => (typeof v === 'string' && byValue.has(v) ? [byValue.get(v)!] : []));
    if (/FROM agent_keys WHERE key_hash/.test(text)) {
      for (const agent of named(this.agentByHash)) this.current.get(agent)!.lookup = times;
    } else if (/INSERT INTO token_audit/.test(text)) {
      for (const agent of named(this.agentByKeyId)) this.current.get(agent)!.audit = times;
    }
  }

  private flush(): void {
    for (const t of this.current.values()) {
      if (t.sent === undefined || t.answered === undefined || !t.lookup || !t.audit) continue;
      this.requests++;
      const add = (segment: (typeof SEGMENTS)[number], ms: number) => this.samples[segment].push(ms);
      add('requestIn', t.lookup.asked - t.sent);
      add('lookupPoolWait', t.lookup.connected - t.lookup.asked);
      add('lookupSql', t.lookup.done - t.lookup.connected);
      add('tokenWait', t.audit.asked - t.lookup.done);
      add('auditPoolWait', t.audit.connected - t.audit.asked);
      add('auditSql', t.audit.done - t.audit.connected);
      add('answerOut', t.answered - t.audit.done);
      add('total', t.answered - t.sent);
    }
    this.current = new Map();
  }

  summary(): EndpointBreakdown {
    this.flush();
    const out = Object.fromEntries(SEGMENTS.map((s) => [s, summarize(this.samples[s])])) as unknown as EndpointBreakdown;
    out.sqlPerRequest = this.requests ? round(this.queries / this.requests, 2) : NaN;
    return out;
  }
}
