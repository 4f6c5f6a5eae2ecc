// Files and folders extauth creates hold keys, tokens' metadata, endpoints and logs: they are its owner's only.
// Modes given to mkdir/open apply only when the path is created (and are narrowed by the umask), so an existing
// path is chmod'ed too: a folder or file left readable by an older version is closed on next use.
import { chmodSync, closeSync, fchmodSync, fstatSync, mkdirSync, openSync, writeFileSync } from 'node:fs';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and missing parents, also 0700) and makes it 0700. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(dir, PRIVATE_DIR_MODE);
}

/** Writes `path` (its folder must exist) readable and writable by the owner only; a device (/dev/stdout) is left as is. */
export function writePrivateFile(path: string, data: string): void {
  const fd = openSync(path, 'w', PRIVATE_FILE_MODE);
  try {
    if (fstatSync(fd).isFile()) fchmodSync(fd, PRIVATE_FILE_MODE);
    writeFileSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/** Creates `path` empty if missing (content kept otherwise) and makes it 0600: for files another writer appends to. */
export function ensurePrivateFile(path: string): void {
  closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
  chmodSync(path, PRIVATE_FILE_MODE);
}

/** Makes an existing file 0600 (one another program created, e.g. the Temporal dev server's database); missing is fine. */
export function restrictFile(path: string): void {
  try {
    chmodSync(path, PRIVATE_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
