// Prometheus metrics of the worker: refresh outcomes, provider latencies, retries by failure class, links
// needing re-authentication and links whose refresh token expires soon; the Temporal SDK's own metrics are
// appended on the same endpoint.
import { createServer, type Server } from 'node:http';
import type { Pool } from 'pg';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ProviderConfig } from '../providers/config.js';

const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export type FailureClass = 'http_5xx' | 'http_429' | 'timeout' | 'connection' | 'malformed' | 'unauthorized_401';

export interface ExtauthMetrics {
  registry: Registry;
  /** One per exchange attempt that got an answer we could classify, or none. */
  exchanges: Counter<'provider' | 'outcome'>;
  exchangeSeconds: Histogram<'provider' | 'outcome'>;
  validations: Counter<'provider' | 'outcome'>;
  validateSeconds: Histogram<'provider' | 'outcome'>;
  retries: Counter<'provider' | 'step' | 'class'>;
  /** Rotated tokens written from the history of a run that ended before saving them. */
  recoveredRotations: Counter<'provider'>;
  /** One per webhook delivery attempt: delivered, retry (tried again later) or failed (refused, or out of retries). */
  webhookDeliveries: Counter<'event' | 'outcome'>;
  /** The rotation journal: answers written to the row (written, not_written) and answers found there and used (used). */
  rotationJournal: Counter<'provider' | 'outcome'>;
}

/** `providers`: their refreshTokenWarnSeconds decide which refresh tokens count as expiring soon. */
export function createMetrics(pool: Pool, providers: Pick<ProviderConfig, 'id' | 'refreshTokenWarnSeconds'>[] = []): ExtauthMetrics {
  const registry = new Registry();
  const exchanges = new Counter({ name: 'extauth_exchanges_total', help: 'Token endpoint calls by outcome (exchanged, rejected, transient)', labelNames: ['provider', 'outcome'], registers: [registry] });
  const validations = new Counter({ name: 'extauth_validations_total', help: 'Validation calls by outcome (valid, rate_limited, invalid, transient)', labelNames: ['provider', 'outcome'], registers: [registry] });
  const retries = new Counter({ name: 'extauth_retries_total', help: 'Failed attempts that the retry policy retries, by step and failure class', labelNames: ['provider', 'step', 'class'], registers: [registry] });
  const recoveredRotations = new Counter({
    name: 'extauth_recovered_rotations_total',
    help: 'Rotated tokens recovered from the history of a run that ended (failed, terminated) before saving them',
    labelNames: ['provider'],
    registers: [registry],
  });
  const webhookDeliveries = new Counter({
    name: 'extauth_webhook_deliveries_total',
    help: 'Webhook delivery attempts by event type and outcome (delivered, retry, failed)',
    labelNames: ['event', 'outcome'],
    registers: [registry],
  });
  const rotationJournal = new Counter({
    name: 'extauth_rotation_journal_total',
    help: "Exchange answers journaled on the row (written, not_written: Postgres refused the write) and journaled answers used after their exchange's result never reached Temporal (used)",
    labelNames: ['provider', 'outcome'],
    registers: [registry],
  });
  const exchangeSeconds = new Histogram({ name: 'extauth_exchange_duration_seconds', help: 'Token endpoint call latency', labelNames: ['provider', 'outcome'], buckets: LATENCY_BUCKETS, registers: [registry] });
  const validateSeconds = new Histogram({ name: 'extauth_validate_duration_seconds', help: 'Validation call latency', labelNames: ['provider', 'outcome'], buckets: LATENCY_BUCKETS, registers: [registry] });
  new Gauge({
    name: 'extauth_links_reauth_required',
    help: 'Links whose refresh token was refused: the user must re-authenticate',
    labelNames: ['provider'],
    registers: [registry],
    async collect() {
      const { rows } = await pool.query(
        `SELECT provider_id, count(*)::int AS n FROM external_auth_links WHERE oauth_refresh_failure_reason <> '' GROUP BY provider_id`,
      );
      this.reset();
      for (const row of rows) this.set({ provider: row.provider_id }, row.n);
    },
  });
  new Gauge({
    name: 'extauth_refresh_tokens_expiring',
    help: "Links whose refresh token expires within the provider's refreshTokenWarnSeconds (or has expired) and not yet refused: the user should re-authenticate soon",
    labelNames: ['provider'],
    registers: [registry],
    async collect() {
      const { rows } = await pool.query(
        `SELECT l.provider_id, count(*)::int AS n
         FROM external_auth_links l JOIN unnest($1::text[], $2::int[]) AS p(id, warn_seconds) ON p.id = l.provider_id
         WHERE l.oauth_refresh_failure_reason = '' AND l.oauth_refresh_token <> ''
           AND l.oauth_refresh_token_expiry < now() + make_interval(secs => p.warn_seconds)
         GROUP BY l.provider_id`,
        [providers.map((p) => p.id), providers.map((p) => p.refreshTokenWarnSeconds)],
      );
      this.reset();
      for (const p of providers) this.set({ provider: p.id }, 0);
      for (const row of rows) this.set({ provider: row.provider_id }, row.n);
    },
  });
  return { registry, exchanges, exchangeSeconds, validations, validateSeconds, retries, recoveredRotations, webhookDeliveries, rotationJournal };
}

/**
 * Serves GET /metrics: ours, then the Temporal SDK's (scraped from its local Prometheus exporter). With `healthy`,
 * also GET /healthz: 200 while it says so, 503 otherwise (a worker that stopped polling), for liveness probes.
 */
export function serveMetrics(options: { port: number; metrics: Pick<ExtauthMetrics, 'registry'>; sdkMetricsUrl?: string; healthy?: () => boolean }): Promise<Server> {
  const server = createServer(async (req, res) => {
    if (req.url === '/healthz' && options.healthy) {
      const ok = options.healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not running\n');
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    try {
      const ours = await options.metrics.registry.metrics();
      const sdk = options.sdkMetricsUrl ? await fetch(options.sdkMetricsUrl).then((r) => r.text()).catch(() => '') : '';
      res.writeHead(200, { 'content-type': options.metrics.registry.contentType }).end(`${ours}\n${sdk}`);
    } catch (err) {
      res.writeHead(500).end(String((err as Error).message));
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve(server));
  });
}
