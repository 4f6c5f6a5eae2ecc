// Temporal Server and its SQL schema tool, built from source into the project's .tools/ (ignored by git): a clean
// clone builds once (about 3 minutes on 2 idle cores, 20+ on loaded ones; ~3.5 GB of Go modules and build cache),
// announced on stderr; later runs reuse it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../temporal.js';

export const TEMPORAL_SERVER_VERSION = 'v1.32.2';
/** The server needs a newer Go than the machines have; `go` fetches this toolchain through the module proxy. */
const GO_TOOLCHAIN = 'go1.27.3';
const GO_DIR = join(repoRoot, '.tools', 'go');

export interface TemporalServerBuild {
  serverBin: string;
  sqlToolBin: string;
  /** …/schema/postgresql/v12: `temporal/versioned` and `visibility/versioned` below it. */
  postgresSchemaDir: string;
}

/** GOPATH, module cache and build cache all under .tools/go, so nothing outside the checkout is written. */
function goEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GOPATH: GO_DIR,
    GOMODCACHE: join(GO_DIR, 'pkg', 'mod'),
    GOCACHE: join(GO_DIR, 'cache'),
    GOFLAGS: '-mod=mod',
    GOTOOLCHAIN: GO_TOOLCHAIN,
  };
}

export function temporalServerBuild(): TemporalServerBuild {
  return {
    serverBin: join(GO_DIR, 'bin', 'server'),
    sqlToolBin: join(GO_DIR, 'bin', 'sql'),
    postgresSchemaDir: join(GO_DIR, 'pkg', 'mod', `go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`, 'schema', 'postgresql', 'v12'),
  };
}

/** Builds what is missing; `say` announces a build (it takes minutes). */
export async function ensureTemporalServerBuilt(say: (msg: string) => void): Promise<TemporalServerBuild> {
  const build = temporalServerBuild();
  const targets = [
    { bin: build.serverBin, pkg: `go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}` },
    { bin: build.sqlToolBin, pkg: `go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}` },
  ];
  for (const { bin, pkg } of targets) {
    if (existsSync(bin)) continue;
    say(`extauth cluster: building ${pkg} into ${GO_DIR} (once: minutes, ~3.5 GB of Go modules and build cache on a clean clone)`);
    const started = Date.now();
    await goInstall(pkg);
    say(`extauth cluster: built ${bin} in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  if (!existsSync(build.postgresSchemaDir)) throw new Error(`the Temporal schema folder ${build.postgresSchemaDir} is missing; delete ${GO_DIR} and run again`);
  return build;
}

function goInstall(pkg: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('go', ['install', pkg], { env: goEnv(), stdio: ['ignore', process.stderr, process.stderr] });
    child.once('error', (err) => reject(new Error(`cannot run go (${err.message}); install Go 1.22 or later: it fetches toolchain ${GO_TOOLCHAIN} itself`)));
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`go install ${pkg} failed (${signal ?? `exit ${code}`}); see the output above`)),
    );
  });
}
