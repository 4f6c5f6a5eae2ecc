// Payload encryption keys: one to encrypt with, any number to decrypt with (key rotation).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PRIVATE_DIR_MODE, writePrivateFile } from '../core/private-files.js';

export interface CodecKey {
  id: string;
  key: Buffer;
}

export interface CodecKeys {
  /** New payloads are encrypted with this key. */
  current: CodecKey;
  /** Every key a payload may have been encrypted with, by id (the current one included). */
  decrypt: Map<string, Buffer>;
}

export class CodecKeyError extends Error {}

/** "<id>:<base64 of 32 bytes>" */
export function parseCodecKey(text: string, source: string): CodecKey {
  const match = /^([A-Za-z0-9._-]{1,64}):([A-Za-z0-9+/=_-]+)$/.exec(text.trim());
  const key = match ? Buffer.from(match[2]!, 'base64') : undefined;
  if (!match || key?.length !== 32) {
    throw new CodecKeyError(`${source} must be "<key id>:<base64 of 32 random bytes>" (generate one with \`extauth codec-key\`)`);
  }
  return { id: match[1]!, key };
}

export function formatCodecKey(key: CodecKey): string {
  return `${key.id}:${key.key.toString('base64')}`;
}

export function generateCodecKey(id = `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`): CodecKey {
  return { id, key: randomBytes(32) };
}

export function makeCodecKeys(current: CodecKey, older: CodecKey[] = []): CodecKeys {
  const decrypt = new Map(older.map((k) => [k.id, k.key]));
  decrypt.set(current.id, current.key);
  return { current, decrypt };
}

/** The environment variables of one keyring: the key to encrypt with, and older keys still needed to decrypt. */
export interface KeyringEnv {
  key: string;
  decryptKeys: string;
  /** The error when neither the key nor the key file is there: what to set, and how to make a key. */
  missing: string;
}

/**
 * `names.key` is the key to encrypt with; `names.decryptKeys` (comma-separated) the older keys still needed to
 * read what they encrypted. Without `names.key`, `keyFile` (a dev key) is used.
 */
export function keyringFromEnv(env: NodeJS.ProcessEnv, names: KeyringEnv, keyFile?: string): CodecKeys {
  const older = (env[names.decryptKeys] ?? '')
    .split(',')
    .filter((s) => s.trim())
    .map((s) => parseCodecKey(s, names.decryptKeys));
  const configured = env[names.key];
  if (configured) return makeCodecKeys(parseCodecKey(configured, names.key), older);
  if (keyFile && existsSync(keyFile)) return makeCodecKeys(parseCodecKey(readFileSync(keyFile, 'utf8'), keyFile), older);
  throw new CodecKeyError(names.missing);
}

/**
 * EXTAUTH_CODEC_KEY is the key to encrypt with; EXTAUTH_CODEC_DECRYPT_KEYS (comma-separated) the older
 * keys still needed to read existing histories. Without EXTAUTH_CODEC_KEY, `keyFile` (the dev key) is used.
 */
export function codecKeysFromEnv(env: NodeJS.ProcessEnv, keyFile?: string): CodecKeys {
  return keyringFromEnv(
    env,
    {
      key: 'EXTAUTH_CODEC_KEY',
      decryptKeys: 'EXTAUTH_CODEC_DECRYPT_KEYS',
      missing:
        'no payload encryption key: set EXTAUTH_CODEC_KEY="<key id>:<base64 of 32 bytes>" (generate one with `extauth codec-key`), ' +
        'or start `extauth dev`, which creates one and publishes where it is',
    },
    keyFile,
  );
}

/** The dev key under the data folder: created once, readable by its owner only. */
export function ensureDevCodecKey(keyFile: string): CodecKey {
  if (existsSync(keyFile)) return parseCodecKey(readFileSync(keyFile, 'utf8'), keyFile);
  // Created 0700 if missing; an existing folder (extauth dev's data folder) keeps the mode its owner gave it.
  mkdirSync(dirname(keyFile), { recursive: true, mode: PRIVATE_DIR_MODE });
  const key = generateCodecKey('dev');
  writePrivateFile(keyFile, `${formatCodecKey(key)}\n`);
  return key;
}
