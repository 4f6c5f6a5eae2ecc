// The example service definitions under deploy/ say what docs/deployment.md says: a worker is stopped with SIGTERM
// and given more time than its drain, runs `extauth worker` with the variables extauth and Temporal's envconfig read,
// and is probed on the worker's /healthz.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { serveMetrics } from '../worker/metrics.js';
import { repoRoot } from '../dev/temporal.js';
import { WORKER_SHUTDOWN_GRACE_MS } from '../worker.js';
import { parseYamlSubset } from './support/yaml-subset.js';

const run = promisify(execFile);
const UNIT = join(repoRoot, 'deploy', 'systemd', 'extauth-worker.service');
const MANIFEST = join(repoRoot, 'deploy', 'k8s', 'extauth-worker.yaml');
const DRAIN_S = WORKER_SHUTDOWN_GRACE_MS / 1000;

/** Every variable the manifests may set: extauth's (README configuration table), Temporal envconfig's, Node's and glibc's (memory, docs/deployment.md). */
function knownVariables(): Set<string> {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const envconfig = readFileSync(join(repoRoot, 'node_modules', '@temporalio', 'envconfig', 'lib', 'envconfig-toml.js'), 'utf8');
  const names = [...readme.matchAll(/`((?:EXTAUTH|TEMPORAL)_[A-Z_]+|DATABASE_URL)`/g), ...envconfig.matchAll(/envProvider\['([A-Z_]+)'\]/g)].map((m) => m[1]!);
  return new Set([...names, 'NODE_OPTIONS', 'MALLOC_ARENA_MAX']);
}

function unitProblems(text: string): string[] {
  const service = /\[Service\]([\s\S]*?)(?:\n\[|$)/.exec(text)?.[1] ?? '';
  const get = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(service)?.[1]?.trim();
  const problems: string[] = [];
  if (!/\bextauth\.js worker$/.test(get('ExecStart') ?? '')) problems.push('ExecStart does not run `extauth worker`');
  if (get('KillSignal') !== 'SIGTERM') problems.push('KillSignal is not SIGTERM');
  if (!(Number(get('TimeoutStopSec')) >= DRAIN_S + 10)) problems.push(`TimeoutStopSec below ${DRAIN_S + 10} s (drain + margin)`);
  if (!get('EnvironmentFile')) problems.push('no EnvironmentFile (keys must not be on the command line)');
  if (get('UMask') !== '0077') problems.push('UMask is not 0077');
  if (!/\[Install\][\s\S]*WantedBy=/.test(text)) problems.push('no [Install] WantedBy');
  return problems;
}

type Obj = Record<string, any>;

function manifestProblems(text: string): string[] {
  const doc = parseYamlSubset(text) as Obj;
  const problems: string[] = [];
  if (doc.apiVersion !== 'apps/v1' || doc.kind !== 'Deployment') problems.push('not an apps/v1 Deployment');
  const pod = doc.spec?.template?.spec as Obj | undefined;
  if (!pod) return [...problems, 'no pod template'];
  if (JSON.stringify(doc.spec.selector?.matchLabels) !== JSON.stringify(doc.spec.template.metadata?.labels)) problems.push('selector does not match the template labels');
  if (!(pod.terminationGracePeriodSeconds >= DRAIN_S + 10)) problems.push(`terminationGracePeriodSeconds below ${DRAIN_S + 10}`);
  const container = (pod.containers as Obj[] | undefined)?.[0];
  if (!container) return [...problems, 'no container'];
  if (!/extauth\.js worker$/.test((container.command as string[]).join(' '))) problems.push('the container does not run `extauth worker`');
  const env = new Map<string, string>((container.env as Obj[]).map((e) => [e.name, e.value]));
  const known = knownVariables();
  for (const name of env.keys()) if (!known.has(name)) problems.push(`unknown variable ${name}`);
  for (const secret of ['EXTAUTH_CODEC_KEY', 'EXTAUTH_WORKER_KEY', 'EXTAUTH_DB_KEY', 'DATABASE_URL']) {
    if (env.has(secret)) problems.push(`${secret} is in plain env: it belongs in a Secret`);
  }
  if (!(container.envFrom as Obj[] | undefined)?.some((e) => e.secretRef?.name)) problems.push('no Secret for the keys (envFrom secretRef)');
  const port = env.get('EXTAUTH_METRICS_PORT');
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
    const command = (container[probe]?.exec?.command as string[] | undefined)?.join(' ') ?? '';
    if (!command.includes(`http://127.0.0.1:${port}/healthz`)) problems.push(`${probe} does not check /healthz on EXTAUTH_METRICS_PORT (${port})`);
  }
  const mounts = new Set((container.volumeMounts as Obj[]).map((m) => m.name));
  for (const volume of pod.volumes as Obj[]) if (!mounts.has(volume.name)) problems.push(`volume ${volume.name} is not mounted`);
  for (const name of mounts) if (!(pod.volumes as Obj[]).some((v) => v.name === name)) problems.push(`mount ${name} has no volume`);
  if (container.securityContext?.allowPrivilegeEscalation !== false) problems.push('allowPrivilegeEscalation is not false');
  return problems;
}

describe('deploy/ examples', () => {
  it('systemd unit: SIGTERM with time to drain, keys from a file, and systemd-analyze verify finds nothing', async () => {
    const text = readFileSync(UNIT, 'utf8');
    expect(unitProblems(text)).toEqual([]);
    // Control: the same check finds a unit that would SIGKILL a worker in the middle of its drain.
    expect(unitProblems(text.replace(/^TimeoutStopSec=.*$/m, 'TimeoutStopSec=10'))).toEqual([`TimeoutStopSec below ${DRAIN_S + 10} s (drain + margin)`]);

    // Debian's systemd package (.ci/run installs it): nothing is started, the unit is only checked.
    await run('systemd-analyze', ['--version']).catch(() => {
      throw new Error('systemd-analyze is missing: apt-get install systemd (as .ci/run does)');
    });
    const { stderr } = await run('systemd-analyze', ['verify', UNIT]);
    expect(stderr).toBe('');
    // Control: systemd-analyze names a misspelt key (exit code 0, a line on stderr).
    const dir = mkdtempSync(join(tmpdir(), 'extauth-unit-'));
    try {
      const bad = join(dir, 'extauth-worker.service');
      writeFileSync(bad, text.replace('KillSignal=', 'KillSignall='));
      const control = await run('systemd-analyze', ['verify', bad]).then((r) => r.stderr, (err: { stderr: string }) => err.stderr);
      expect(control).toMatch(/Unknown key 'KillSignall'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('Kubernetes Deployment: grace period, known variables only, keys from a Secret, probes on /healthz', () => {
    const text = readFileSync(MANIFEST, 'utf8');
    expect(manifestProblems(text)).toEqual([]);
    // Controls: a misspelt TLS variable (envconfig would ignore it and connect without the CA) and a short grace period.
    expect(manifestProblems(text.replace('TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_CA_CERT_PATH'))).toEqual(['unknown variable TEMPORAL_TLS_CA_CERT_PATH']);
    expect(manifestProblems(text.replace('terminationGracePeriodSeconds: 45', 'terminationGracePeriodSeconds: 5'))).toEqual([`terminationGracePeriodSeconds below ${DRAIN_S + 10}`]);
  });

  it("the worker's /healthz answers 200 while it runs and 503 once it stopped", async () => {
    let running = true;
    const server = await serveMetrics({ port: 0, metrics: { registry: new Registry() }, healthy: () => running });
    try {
      const address = server.address();
      const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/healthz`;
      expect((await fetch(url)).status).toBe(200);
      running = false;
      expect((await fetch(url)).status).toBe(503);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
