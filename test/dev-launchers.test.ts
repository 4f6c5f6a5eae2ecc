import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCodecKey, generateCodecKey } from '../codec/keys.js';
import { isPortListening } from '../dev/ports.js';
import { startEmbeddedPostgres } from '../dev/postgres.js';
import { startTemporalDevServer, waitForTemporalHealth } from '../dev/temporal.js';
import { runCli } from './support/cli.js';
import { startDevProcess, type DevProcess } from './support/dev-process.js';
import { DEMO_GIT_HOST } from '../dev/demo.js';
import { EXTAUTH_BIN, runWithInput } from './support/git.js';

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

// `extauth dev --demo` run from a project folder as the README's quick start does (EXTAUTH_DATA_DIR unset, so its data
// is ./.extauth), with a private per-user state folder.
describe('extauth dev: what it leaves on disk, and where other commands find it', () => {
  const DEV_TIMEOUT_MS = 240_000;
  const asRoot = process.getuid?.() === 0;
  let root: string;
  let project: string;
  let stateHome: string;
  let dev: DevProcess;
  /** The environment of a shell, of git, or of an agent: no EXTAUTH_DATA_DIR, no Temporal address. */
  let userEnv: Record<string, string>;
  const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'extauth-dev-files-'));
    await chmod(root, 0o755); // as root, Postgres runs as "postgres" and must pass through it
    project = join(root, 'project');
    stateHome = join(root, 'state');
    await mkdir(project);
    await chmod(project, 0o755);
    userEnv = { XDG_STATE_HOME: stateHome, EXTAUTH_METRICS_PORT: '0' };
    dev = await startDevProcess(['--demo'], userEnv, DEV_TIMEOUT_MS, project);
  }, DEV_TIMEOUT_MS);

  afterAll(async () => {
    if (dev) expect(await dev.stop()).toBe(0);
    await rm(root, { recursive: true, force: true });
  }, 60_000);

  it('creates its folders 0700 and its files 0600: data folder, logs, codec key, providers, endpoints, Temporal database', async () => {
    const data = join(project, '.extauth');
    // As root the data folder also lets others pass (not list): the cluster runs as "postgres" (dev/postgres.ts).
    expect(await modeOf(data)).toBe(asRoot ? 0o701 : 0o700);
    expect(await modeOf(join(data, 'logs'))).toBe(0o700);
    for (const file of ['logs/extauth.log', 'codec.key', 'providers.dev.json', 'dev.json', 'temporal.db']) {
      expect(await modeOf(join(data, file)), file).toBe(0o600);
    }
    const cluster = await stat(join(data, 'postgres'));
    expect(cluster.mode & 0o777).toBe(0o700);
    if (asRoot) expect(cluster.uid).not.toBe(0); // owned by "postgres", which alone may enter it
    // The per-user copy of the endpoints, with the data folder's absolute path.
    expect(await modeOf(join(stateHome, 'extauth'))).toBe(0o700);
    expect(await modeOf(join(stateHome, 'extauth', 'dev.json'))).toBe(0o600);
    const published = JSON.parse(await readFile(join(stateHome, 'extauth', 'dev.json'), 'utf8'));
    expect(published).toMatchObject({ temporalAddress: dev.ready.temporalAddress, dataDir: data, codecKeyFile: join(data, 'codec.key') });
  });

  it('the README quick start: `extauth token` from the project folder finds the running dev through the per-user file', async () => {
    const result = await runCli(['token', '--provider', 'demo-github', '--user', 'alice', '--json'], userEnv, { cwd: project });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).accessToken).toBeTruthy();
  }, 60_000);

  describe('a repository with its own .extauth/dev.json', () => {
    let repo: string;
    const LURE = '127.0.0.1:1'; // nothing listens there: a command that followed the repository fails naming it

    beforeAll(async () => {
      repo = join(root, 'malicious-repo');
      await mkdir(join(repo, '.extauth'), { recursive: true });
      const lureProviders = join(repo, '.extauth', 'providers.json');
      await writeFile(join(repo, '.extauth', 'codec.key'), `${formatCodecKey(generateCodecKey('lure'))}\n`);
      await writeFile(lureProviders, JSON.stringify([{ id: 'demo-github', type: 'github', clientId: 'x', clientSecret: 'y', tokenUrl: 'https://evil.example/token', hosts: ['github.com'] }]));
      await writeFile(
        join(repo, '.extauth', 'dev.json'),
        JSON.stringify({ temporalAddress: LURE, namespace: 'default', taskQueue: 'evil', uiUrl: null, databaseUrl: 'postgres://evil@127.0.0.1:1/x', providersFile: lureProviders, codecKeyFile: join(repo, '.extauth', 'codec.key') }),
      );
    });

    it('does not redirect `extauth token` run inside it', async () => {
      const result = await runCli(['token', '--provider', 'demo-github', '--user', 'alice', '--json'], userEnv, { cwd: repo });
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout).accessToken).toBeTruthy();
      expect(result.stderr).not.toContain(LURE);
    }, 60_000);

    it('does not redirect `extauth git-credential get` as git runs it there', async () => {
      const result = await runWithInput(process.execPath, [EXTAUTH_BIN, 'git-credential', '--provider', 'demo-github', '--user', 'alice', 'get'], {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...userEnv },
        cwd: repo,
        input: `protocol=https\nhost=${DEMO_GIT_HOST}\n\n`,
        timeoutMs: 60_000,
      });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^username=ghu_.+$/m);
      expect(result.stderr).not.toContain(LURE);
    }, 60_000);

    it('git-credential refuses a relative EXTAUTH_PROVIDERS, which would name the repository\'s file; an absolute one is read', async () => {
      const credential = (providers: string) =>
        runWithInput(process.execPath, [EXTAUTH_BIN, 'git-credential', '--user', 'alice', 'get'], {
          env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...userEnv, EXTAUTH_PROVIDERS: providers },
          cwd: repo,
          input: 'protocol=https\nhost=github.com\n\n',
          timeoutMs: 60_000,
        });
      const relative = await credential('.extauth/providers.json');
      expect(relative.code).toBe(1);
      expect(relative.stderr).toMatch(/EXTAUTH_PROVIDERS must be an absolute path/);
      // Control: the same file named absolutely is the operator's explicit choice, and maps github.com to demo-github.
      const absolute = await credential(join(repo, '.extauth', 'providers.json'));
      expect(absolute.code, absolute.stderr).toBe(0);
      expect(absolute.stdout).toMatch(/^username=ghu_.+$/m);
    }, 60_000);

    it('control: the same folder named explicitly by EXTAUTH_DATA_DIR (the old default resolution) is followed', async () => {
      const result = await runCli(['token', '--provider', 'demo-github', '--user', 'alice', '--json'], { ...userEnv, EXTAUTH_DATA_DIR: join(repo, '.extauth') }, { cwd: repo });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`cannot reach Temporal at ${LURE}`);
    }, 60_000);
  });

  it('removes both published endpoint files on stop', async () => {
    expect(await dev.stop()).toBe(0);
    dev = undefined as unknown as DevProcess;
    await expect(stat(join(stateHome, 'extauth', 'dev.json'))).rejects.toThrow(/ENOENT/);
    await expect(stat(join(project, '.extauth', 'dev.json'))).rejects.toThrow(/ENOENT/);
    // And with no dev running, a command says what to do instead of reading the current folder.
    const result = await runCli(['token', '--provider', 'demo-github', '--user', 'alice'], userEnv, { cwd: project });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no Temporal server: set TEMPORAL_ADDRESS/);
  }, 60_000);
});
