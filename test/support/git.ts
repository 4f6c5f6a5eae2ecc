// Running git and the credential helper as git would: a clean environment, stdin given, a hard time limit.
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const EXTAUTH_BIN = fileURLToPath(new URL('../../bin/extauth.js', import.meta.url));
/** The bin git finds for `credential.helper "extauth …"`: it runs `git credential-extauth … <action>`. */
export const GIT_CREDENTIAL_EXTAUTH_BIN = fileURLToPath(new URL('../../bin/git-credential-extauth.js', import.meta.url));

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with exactly `env`, writes `input` to its stdin and closes it; killed after `timeoutMs`. */
export function runWithInput(
  command: string,
  args: string[],
  options: { env: Record<string, string>; input?: string; cwd?: string; timeoutMs?: number },
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * What git needs to run alone: a private HOME (no user gitconfig, no credential helpers), no system config, no
 * prompts, no askpass programs, and a committer identity.
 */
export function isolatedGitEnv(home: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.invalid',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.invalid',
  };
}

/** `<root>/<name>.git`, a bare repository with one commit on main; returns that commit's id. */
export async function createBareRepo(root: string, name: string, env: Record<string, string>): Promise<string> {
  const work = join(root, `${name}-work`);
  await mkdir(work, { recursive: true });
  const git = async (args: string[], cwd = work) => {
    const result = await runWithInput('git', args, { env, cwd });
    if (result.code !== 0) throw new Error(`git ${args.join(' ')} failed: ${result.stderr}`);
    return result.stdout.trim();
  };
  await git(['init', '--bare', '--initial-branch=main', join(root, `${name}.git`)], root);
  await git(['init', '--initial-branch=main', '.']);
  await git(['commit', '--allow-empty', '-m', 'the commit the clone must have']);
  await git(['push', join(root, `${name}.git`), 'main']);
  return git(['rev-parse', 'HEAD']);
}
