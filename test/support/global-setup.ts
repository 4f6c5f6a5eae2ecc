// Starts one real Postgres and one real Temporal dev server for the whole run, and bundles the workflows once.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../dev/postgres.js';
import { startTemporalDevServer } from '../../dev/temporal.js';
import { migrateUp } from '../../store/migrate.js';
import { bundleLinkWorkflows } from '../../worker.js';
import { DEV_SERVER_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes.js';
import { formatCodecKey, generateCodecKey } from '../../codec/keys.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    databaseUrl: string;
    workflowBundlePath: string;
    temporalCliPath: string;
    /** The run's payload key, "<id>:<base64>", as EXTAUTH_CODEC_KEY takes it. */
    codecKey: string;
    /** The run's worker key, as EXTAUTH_WORKER_KEY takes it: workers only, never a client. */
    workerKey: string;
    /** The run's database key (token columns), as EXTAUTH_DB_KEY takes it: worlds and CLI runs share it. */
    dbKey: string;
  }
}

export default async function setup(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), 'extauth-test-'));
  await chmod(dir, 0o755); // as root, Postgres runs as "postgres" and must enter it
  const [postgres, temporal, bundle] = await Promise.all([
    startEmbeddedPostgres({ dataDir: join(dir, 'pg'), persistent: false }),
    startTemporalDevServer({ headless: true, searchAttributes: DEV_SERVER_SEARCH_ATTRIBUTES }),
    bundleLinkWorkflows(),
  ]);
  await migrateUp(postgres.databaseUrl);
  const workflowBundlePath = join(dir, 'workflow-bundle.js');
  await writeFile(workflowBundlePath, bundle);

  project.provide('temporalAddress', temporal.address);
  project.provide('databaseUrl', postgres.databaseUrl);
  project.provide('workflowBundlePath', workflowBundlePath);
  project.provide('temporalCliPath', temporal.cliPath ?? '');
  project.provide('codecKey', formatCodecKey(generateCodecKey('test')));
  project.provide('workerKey', formatCodecKey(generateCodecKey('test-worker')));
  project.provide('dbKey', formatCodecKey(generateCodecKey('test-db')));

  return async () => {
    await Promise.allSettled([temporal.stop(), postgres.stop()]);
    await rm(dir, { recursive: true, force: true });
  };
}

