import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isPortListening } from '../dev/ports.js';
import { startEmbeddedPostgres } from '../dev/postgres.js';
import { startTemporalDevServer, waitForTemporalHealth } from '../dev/temporal.js';

const TIMEOUT_MS = 60_000;
const quiet = (): void => {};

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'extauth-dev-test-'));
  // As root, Postgres runs as the `postgres` user, which must be able to enter this dir.
  await chmod(dir, 0o755);
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function query<R extends pg.QueryResultRow>(databaseUrl: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('Temporal dev server launcher', () => {
  it(
    'starts a healthy in-memory server that the SDK can reach, and stops it',
    async () => {
      const temporal = await startTemporalDevServer({ headless: true, namespace: 'extauth', log: quiet });
      const port = Number(temporal.address.split(':')[1]);
      try {
        expect(temporal.namespace).toBe('extauth');
        expect(temporal.uiUrl).toBeUndefined();
        await waitForTemporalHealth(temporal.cliPath ?? 'temporal', temporal.address, 5_000);

        const connection = await Connection.connect({ address: temporal.address });
        try {
          const info = await connection.workflowService.getSystemInfo({});
          expect(info.serverVersion).toMatch(/\d+\.\d+/);
        } finally {
          await connection.close();
        }
      } finally {
        await temporal.stop();
      }
      await temporal.stop(); // idempotent
      expect(await isPortListening(port)).toBe(false);
    },
    TIMEOUT_MS,
  );

  it(
    'fails with the server output when start-dev exits early',
    async () => {
      const occupied = createServer();
      await new Promise<void>((resolve) => occupied.listen(0, '127.0.0.1', resolve));
      const { port } = occupied.address() as AddressInfo;
      try {
        await expect(startTemporalDevServer({ port, headless: true, log: quiet })).rejects.toThrow(
          /exited before becoming healthy[\s\S]*address already in use/,
        );
      } finally {
        occupied.close();
      }
    },
    TIMEOUT_MS,
  );
});

describe('embedded Postgres launcher', () => {
  it(
    'starts a cluster with the extauth database and stops it',
    () =>
      withTempDir(async (dir) => {
        const postgres = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), log: quiet });
        try {
          // A random password, kept readable by its owner only in the data dir.
          const password = (await readFile(join(dir, 'pg', 'extauth-password'), 'utf8')).trim();
          expect(password).toMatch(/^[0-9a-f]{48}$/);
          expect(((await stat(join(dir, 'pg', 'extauth-password'))).mode & 0o777).toString(8)).toBe('600');
          expect(postgres.databaseUrl).toBe(`postgres://postgres:${password}@127.0.0.1:${postgres.port}/extauth`);
          // Control: the former fixed password no longer opens it.
          await expect(query(postgres.databaseUrl.replace(password, 'extauth-dev'), 'select 1')).rejects.toThrow(/password authentication failed/);
          expect(await query(postgres.databaseUrl, 'select 1 as one')).toEqual([{ one: 1 }]);
        } finally {
          await postgres.stop();
        }
        await postgres.stop(); // idempotent
        expect(await isPortListening(postgres.port)).toBe(false);
      }),
    TIMEOUT_MS,
  );

  it(
    'keeps data across restarts on a persistent data dir',
    () =>
      withTempDir(async (dir) => {
        const dataDir = join(dir, 'pg');
        const first = await startEmbeddedPostgres({ dataDir, persistent: true, log: quiet });
        try {
          await query(first.databaseUrl, "create table kept (v text); insert into kept values ('still here')");
        } finally {
          await first.stop();
        }

        const second = await startEmbeddedPostgres({ dataDir, persistent: true, log: quiet });
        try {
          expect(second.databaseUrl.replace(`:${second.port}/`, '')).toBe(first.databaseUrl.replace(`:${first.port}/`, '')); // same password
          expect(await query(second.databaseUrl, 'select v from kept')).toEqual([{ v: 'still here' }]);
        } finally {
          await second.stop();
        }
      }),
    TIMEOUT_MS,
  );

  it(
    'a data dir made with the former fixed password still starts, and gets a random password (ALTER ROLE)',
    () =>
      withTempDir(async (dir) => {
        const dataDir = join(dir, 'pg');
        const first = await startEmbeddedPostgres({ dataDir, persistent: true, log: quiet });
        try {
          // As such a data dir was: the fixed password, no password file.
          await query(first.databaseUrl, "ALTER ROLE postgres PASSWORD 'extauth-dev'; create table kept (v text); insert into kept values ('old')");
        } finally {
          await first.stop();
        }
        await rm(join(dataDir, 'extauth-password'));

        const logged: string[] = [];
        const second = await startEmbeddedPostgres({ dataDir, persistent: true, log: (m) => logged.push(m) });
        try {
          const password = (await readFile(join(dataDir, 'extauth-password'), 'utf8')).trim();
          expect(password).toMatch(/^[0-9a-f]{48}$/);
          expect(second.databaseUrl).toContain(`postgres:${password}@`);
          expect(await query(second.databaseUrl, 'select v from kept')).toEqual([{ v: 'old' }]);
          await expect(query(second.databaseUrl.replace(password, 'extauth-dev'), 'select 1')).rejects.toThrow(/password authentication failed/);
          expect(logged.join('\n')).toContain('used the old fixed password; it now has a random one');
          expect(logged.join('\n')).not.toContain(password);
        } finally {
          await second.stop();
        }
      }),
    TIMEOUT_MS,
  );
});
