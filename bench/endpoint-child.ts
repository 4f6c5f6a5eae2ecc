// P3's agent endpoint in a process of its own, as `extauth agent-endpoint` runs (agent-api/process.ts): its own
// Temporal client and its own pool of 10, so that the agents' HTTP clients and the fake provider, which live in the
// bench's process, do not share its event loop. Its queries are timed (bench/endpoint-timeline.ts) and reported.
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { Registry } from 'prom-client';
import { listenAgentEndpoint } from '../agent-api/listen.js';
import { createAgentRequestCounter } from '../agent-api/metrics.js';
import { ExtauthClient, extauthGrpcInterceptors } from '../client/index.js';
import { extauthDataConverter } from '../codec/data-converter.js';
import { makeCodecKeys, parseCodecKey } from '../codec/keys.js';
import { createLogger } from '../config/logger.js';
import type { ProviderConfig } from '../providers/config.js';
import { EndpointTimeline, type EndpointBreakdown } from './endpoint-timeline.js';

export interface EndpointChildConfig {
  temporalAddress: string;
  namespace: string;
  codecKey: string;
  taskQueue: string;
  databaseUrl: string;
  providers: ProviderConfig[];
}

export type EndpointChildRequest =
  | { type: 'start'; config: EndpointChildConfig }
  | { type: 'round'; keys: string[] }
  | { type: 'agentTimes'; sent: number[]; answered: number[] }
  | { type: 'summary' }
  | { type: 'stop' };
export type EndpointChildAnswer =
  | { type: 'ready'; url: string }
  | { type: 'ok' }
  | { type: 'summary'; breakdown: EndpointBreakdown }
  | { type: 'error'; message: string };

const send = (answer: EndpointChildAnswer): void => void process.send!(answer);
const timeline = new EndpointTimeline();
let stop: (() => Promise<void>) | undefined;

process.on('message', (msg: EndpointChildRequest) => {
  void handle(msg).catch((err) => send({ type: 'error', message: (err as Error).stack ?? String(err) }));
});
process.on('disconnect', () => void (stop?.() ?? Promise.resolve()).finally(() => process.exit(0)));

async function handle(msg: EndpointChildRequest): Promise<void> {
  switch (msg.type) {
    case 'round':
      timeline.startRound(msg.keys);
      return send({ type: 'ok' });
    case 'agentTimes':
      timeline.agentTimes(msg.sent, msg.answered);
      return send({ type: 'ok' });
    case 'summary':
      return send({ type: 'summary', breakdown: timeline.summary() });
    case 'stop':
      await stop?.();
      return send({ type: 'ok' });
    case 'start': {
      const c = msg.config;
      const connection = await Connection.connect({ address: c.temporalAddress, interceptors: extauthGrpcInterceptors() });
      const temporal = new Client({ connection, namespace: c.namespace, dataConverter: extauthDataConverter(makeCodecKeys(parseCodecKey(c.codecKey, 'codecKey'))) });
      // As agent-api/process.ts makes it.
      const pool = new pg.Pool({ connectionString: c.databaseUrl, max: 10, connectionTimeoutMillis: 5_000, statement_timeout: 10_000 });
      // Warm, as the in-process variant's pool and client are: the pool's 10 connections (each a SCRAM handshake) and
      // the gRPC channel are not opened inside the first timed round.
      await Promise.all(Array.from({ length: 10 }, () => pool.query('SELECT 1')));
      await connection.workflowService.getSystemInfo({});
      const endpoint = await listenAgentEndpoint(
        {
          pool: timeline.pool(pool),
          client: new ExtauthClient(temporal, { taskQueue: c.taskQueue }),
          providers: c.providers,
          logger: createLogger(undefined, 'silent'),
          requests: createAgentRequestCounter(new Registry()),
        },
        { port: 0, host: '127.0.0.1' },
      );
      stop = async () => {
        stop = undefined;
        await endpoint.close();
        await Promise.allSettled([pool.end(), connection.close()]);
      };
      return send({ type: 'ready', url: endpoint.url });
    }
  }
}
