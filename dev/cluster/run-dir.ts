import { join } from 'node:path';
import { repoRoot } from '../temporal.js';

/** A folder per run under .extauth/cluster (ignored by git), or EXTAUTH_CLUSTER_DIR; removed on stop. */
export function clusterRunDir(): string {
  return process.env.EXTAUTH_CLUSTER_DIR || join(repoRoot, '.extauth', 'cluster', String(process.pid));
}
