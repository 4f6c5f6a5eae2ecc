// CI's short run of the chaos soak (scripts/soak.ts): extauth must keep every invariant through faults and
// worker SIGKILLs; the reference must lose rotations under injected validate 5xx, and the soak must say so.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function soak(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; summary: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/soak.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      const summary = last.startsWith('soak: ') ? Object.fromEntries(last.slice(6).split(' ').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)])) : {};
      resolve({ code, stdout, stderr, summary });
    });
  });
}

describe.concurrent('chaos soak, short', () => {
  it('extauth: faults and worker kills, 0 lost rotations, 0 false re-auths, 0 stale tokens, 0 leaked tokens', async () => {
    const run = await soak(['--duration', '25', '--links', '40', '--agents', '8', '--kill-every', '8', '--seed', '7']);
    const context = `${run.stdout.split('\n').filter((l) => !l.startsWith('link ') || !l.endsWith('-> ok')).join('\n')}\n${run.stderr.slice(-3000)}`;
    expect(run.summary, context).toMatchObject({ links: 40, lost_rotations: 0, false_reauths: 0, stale_tokens_served: 0, leaked_tokens: 0 });
    expect(run.summary.kills, context).toBeGreaterThanOrEqual(2);
    expect(run.summary.refreshes, context).toBeGreaterThan(10);
    expect(run.code, context).toBe(0);
  }, 240_000);

  it('the reference under validate 5xx: loses rotations and falsely re-auths, and the soak exits non-zero', async () => {
    const run = await soak(['--against', 'reference', '--mix', 'validate-5xx', '--duration', '15', '--links', '40', '--agents', '8']);
    const context = `${run.stdout.slice(-3000)}\n${run.stderr.slice(-2000)}`;
    expect(run.summary.lost_rotations, context).toBeGreaterThan(0);
    expect(run.summary.false_reauths, context).toBeGreaterThan(0);
    expect(run.code, context).toBe(1);
  }, 240_000);
});
