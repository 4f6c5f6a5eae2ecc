import { runner } from 'node-pg-migrate';
import { fileURLToPath } from 'node:url';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

/** Applies pending versioned migrations; returns the names applied. */
export async function migrateUp(databaseUrl: string, log: (msg: string) => void = () => undefined): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'extauth_migrations',
    checkOrder: true,
    log,
  });
  return applied.map((m) => m.name);
}
