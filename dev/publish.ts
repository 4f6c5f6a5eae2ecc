// Where a running `extauth dev` tells other commands how to reach it: dev.json in its data folder (read when
// EXTAUTH_DATA_DIR names that folder) and a per-user copy (read otherwise), so that `extauth token` run by git
// or an agent inside a repository never needs, nor trusts, the repository's own ./.extauth.
import { readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { devEndpointsFile, userDevEndpointsFile, type DevEndpoints, type Env } from '../config/env.js';
import { ensurePrivateDir, writePrivateFile } from '../core/private-files.js';

export interface PublishedEndpoints {
  files: string[];
  /** Removes what this process published; a per-user file another `extauth dev` has since replaced is left alone. */
  remove(): void;
}

export function publishDevEndpoints(env: Env, dataDir: string, endpoints: DevEndpoints): PublishedEndpoints {
  const text = JSON.stringify({ ...endpoints, dataDir, pid: process.pid }, null, 2);
  const inDataDir = devEndpointsFile(dataDir);
  const perUser = userDevEndpointsFile(env);
  writePrivateFile(inDataDir, text);
  ensurePrivateDir(dirname(perUser));
  writePrivateFile(perUser, text);
  return {
    files: [inDataDir, perUser],
    remove() {
      rmSync(inDataDir, { force: true });
      if (publishedBy(perUser) === process.pid) rmSync(perUser, { force: true });
    },
  };
}

function publishedBy(file: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as DevEndpoints).pid;
  } catch {
    return undefined;
  }
}
