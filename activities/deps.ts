import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { ExtauthClient } from '../client/index.js';
import type { ExtauthMetrics } from '../worker/metrics.js';
import type { WebhookRegistry } from '../config/webhooks.js';
import type { ProviderRegistry } from '../providers/config.js';
import type { TokenSealer } from '../codec/seal.js';
import type { TokenCipher } from '../store/token-cipher.js';

/** Everything activities touch, passed in so that tests and processes wire real ones and nothing is global. */
export interface ActivityDeps {
  pool: Pool;
  providers: ProviderRegistry;
  http: Dispatcher;
  logger: Logger;
  /** Encrypts the token columns at rest (EXTAUTH_DB_KEY); absent: tokens are stored in plaintext. */
  cipher?: TokenCipher;
  /** Seals refresh tokens and id_tokens in workflow history with the worker key (EXTAUTH_WORKER_KEY), which clients do not hold. */
  sealer: TokenSealer;
  metrics: ExtauthMetrics;
  /** Where link events go (config/webhooks.ts); the delivery activity resolves endpoint names here. */
  webhooks: WebhookRegistry;
  /**
   * Opens link runs (the keep-alive sweep asks them to refresh). Set once the worker exists, from its own client
   * (worker.ts launchWorker); absent, the keep-alive activity fails without retrying.
   */
  extauth?: ExtauthClient;
}
