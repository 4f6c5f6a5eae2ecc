// `extauth agent-endpoint`: the agent endpoint as a process of its own, a Temporal client with the payload key and
// the database (agent keys, audit). Agents reach it with EXTAUTH_AGENT_URL and their key, and need nothing else.
import pg from 'pg';
import { Registry } from 'prom-client';
import { connectClient } from '../client/connect.js';
import { ConfigError, readEnv, resolveEndpoints } from '../config/env.js';
import { createLogger } from '../config/logger.js';
import { serveMetrics } from '../worker/metrics.js';
import { listenForStop, StopRequested } from '../config/stop-signals.js';
import { loadProvidersFile } from '../providers/config.js';
import { listenAgentEndpoint } from './listen.js';
import { createAgentRequestCounter } from './metrics.js';

export async function runAgentEndpointProcess(options: { port: number; host: string; metricsPort: number }): Promise<number> {
  const env = readEnv();
  const endpoints = resolveEndpoints(env);
  if (!endpoints.databaseUrl) throw new ConfigError('no database: set DATABASE_URL (postgres://...); the agent keys and the audit live there');
  if (!endpoints.providersFile) throw new ConfigError('no providers: set EXTAUTH_PROVIDERS to the providers file the workers use (their git hosts are served to agents)');
  const providers = loadProvidersFile(endpoints.providersFile);
  const logger = createLogger();
  // Installed first: a signal while connecting stops the process after what has started (a repeated one waits for it).
  const stopRequests = listenForStop((msg) => logger.warn({ step: 'agent-endpoint' }, msg));
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err) => logger.warn({ step: 'agent-endpoint', cause: (err as Error).message }, 'while stopping'));
  };
  try {
    const { client, close } = await connectClient(endpoints);
    stops.push(close);
    const pool = new pg.Pool({ connectionString: endpoints.databaseUrl, max: 10, connectionTimeoutMillis: 5_000, statement_timeout: 10_000 });
    stops.push(() => pool.end());
    const registry = new Registry();
    const requests = createAgentRequestCounter(registry);
    if (options.metricsPort) {
      const metrics = await serveMetrics({ port: options.metricsPort, metrics: { registry } });
      stops.push(() => new Promise((resolve) => metrics.close(resolve)));
    }
    stopRequests.throwIfRequested();
    const endpoint = await listenAgentEndpoint({ pool, client, providers, logger, requests }, options);
    stops.push(() => endpoint.close());
    logger.info({ url: endpoint.url, providers: providers.map((p) => p.id) }, 'agent endpoint started');
    process.stderr.write(`extauth: agent endpoint at ${endpoint.url} (EXTAUTH_AGENT_URL)\n`);
    const signal = await stopRequests.requested;
    logger.info({ signal }, 'agent endpoint stopping');
  } catch (err) {
    if (!(err instanceof StopRequested)) throw err;
  } finally {
    await stopAll();
  }
  return 0;
}
