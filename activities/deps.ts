import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { ProviderRegistry } from '../providers/config.js';

/** Everything activities touch, passed in so that tests and processes wire real ones and nothing is global. */
export interface ActivityDeps {
  pool: Pool;
  providers: ProviderRegistry;
  http: Dispatcher;
  logger: Logger;
}
