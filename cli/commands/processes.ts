// Commands that run a long-lived process or touch only the database.
import { ConfigError, devDataDir, devEndpointsFile, readEnv } from '../../config/env.js';
import { migrateUp } from '../../store/migrate.js';
import { EXIT, parse, print, UsageError, type Command } from './args.js';

export const devCommand: Command = {
  path: ['dev'],
  usage: 'dev [--demo] | dev --stop',
  summary:
    'Temporal dev server (+ Web UI and codec server), embedded Postgres, migrations, a worker; --demo adds a fake provider and agents; ' +
    '--stop stops the extauth dev running on EXTAUTH_DATA_DIR and waits for it',
  async run(args) {
    const { values } = parse(args, { demo: { type: 'boolean' }, stop: { type: 'boolean' } });
    if (values.stop) {
      if (values.demo) throw new UsageError('--stop takes no other option');
      const env = readEnv();
      const { stopDevOwner } = await import('../../dev/dev-lock.js');
      const dataDir = devDataDir(env);
      return stopDevOwner(dataDir, { say: (msg) => process.stderr.write(`${msg}\n`), staleFiles: [devEndpointsFile(dataDir)] });
    }
    const { runDev } = await import('../../dev/run.js');
    return runDev({ demo: values.demo ?? false });
  },
};

export const workerCommand: Command = {
  path: ['worker'],
  usage: 'worker',
  summary: 'run a worker (TEMPORAL_ADDRESS, DATABASE_URL, EXTAUTH_PROVIDERS, EXTAUTH_CODEC_KEY, EXTAUTH_WORKER_KEY, EXTAUTH_DB_KEY)',
  async run(args) {
    parse(args, {});
    const { runWorkerProcess } = await import('../../worker/process.js');
    return runWorkerProcess();
  },
};

export const migrateCommand: Command = {
  path: ['migrate'],
  usage: 'migrate',
  summary: 'apply pending database migrations (DATABASE_URL)',
  async run(args) {
    parse(args, {});
    const databaseUrl = readEnv().DATABASE_URL;
    if (!databaseUrl) throw new ConfigError('no database: set DATABASE_URL');
    const applied = await migrateUp(databaseUrl);
    print(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    return EXIT.ok;
  },
};
