// AES-256-GCM for the token columns of external_auth_links. Each stored value is base64(iv | ciphertext | tag)
// and sits next to the id of the key that sealed it; the row's identity and the column name are bound in as
// associated data, so a value copied to another row or column does not decrypt.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CodecKeyError, makeCodecKeys, parseCodecKey, type CodecKey, type CodecKeys } from '../codec/keys.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A token column as stored: `keyId` null means `value` is the plaintext token. */
export interface StoredToken {
  value: string;
  keyId: string | null;
}

/**
 * A stored token could not be read: its key is not configured, the value does not decrypt, or (keyId null) it is
 * plaintext and the cipher refuses plaintext (strict mode). Never retried.
 */
export class TokenKeyError extends Error {
  constructor(
    message: string,
    readonly keyId: string | null,
  ) {
    super(message);
    this.name = 'TokenKeyError';
  }
}

/** Seals with the current key; opens with any configured key (current + older, for rotation). */
export class TokenCipher {
  private readonly keys: CodecKeys;
  /** Strict mode (EXTAUTH_DB_STRICT): a plaintext value read from the table is an error, not a token. */
  readonly rejectPlaintext: boolean;

  constructor(current: CodecKey, older: CodecKey[] = [], options: { rejectPlaintext?: boolean } = {}) {
    this.keys = makeCodecKeys(current, older);
    this.rejectPlaintext = options.rejectPlaintext ?? false;
  }

  get currentKeyId(): string {
    return this.keys.current.id;
  }

  hasKey(keyId: string): boolean {
    return this.keys.decrypt.has(keyId);
  }

  /** `context` (associated data) must be given again, identical, to open the value. */
  seal(plaintext: string, context: string): StoredToken {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.current.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const data = Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return { value: data.toString('base64'), keyId: this.keys.current.id };
  }

  /** `what` names the value in errors (e.g. "the refresh token of link github/alice"); never the value itself. */
  open(stored: StoredToken & { keyId: string }, context: string, what: string): string {
    const key = this.keys.decrypt.get(stored.keyId);
    if (!key) {
      throw new TokenKeyError(
        `${what} is encrypted with database key "${stored.keyId}", which is not configured ` +
          `(current key "${this.keys.current.id}"); add it to EXTAUTH_DB_DECRYPT_KEYS`,
        stored.keyId,
      );
    }
    const data = Buffer.from(stored.value, 'base64');
    try {
      if (data.length < IV_BYTES + TAG_BYTES) throw new Error('too short');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      return Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new TokenKeyError(
        `${what} does not decrypt with database key "${stored.keyId}": the configured key with that id is not the one that encrypted it, or the value was altered`,
        stored.keyId,
      );
    }
  }
}

/**
 * Reads a stored token column: plaintext when it has no key id (refused in strict mode, unless empty: no token),
 * otherwise decrypted (a key is then required).
 */
export function openStoredToken(stored: StoredToken, context: string, what: string, cipher: TokenCipher | undefined): string {
  if (stored.keyId === null) {
    if (cipher?.rejectPlaintext && stored.value !== '') throw plaintextRefused(what);
    return stored.value;
  }
  if (!cipher) {
    throw new TokenKeyError(
      `${what} is encrypted with database key "${stored.keyId}", but no database key is configured; ` +
        `set EXTAUTH_DB_KEY (and EXTAUTH_DB_DECRYPT_KEYS for older keys)`,
      stored.keyId,
    );
  }
  return cipher.open({ value: stored.value, keyId: stored.keyId }, context, what);
}

/** Strict mode met a value written before encryption (or by a process without the key): not served. */
export function plaintextRefused(what: string): TokenKeyError {
  return new TokenKeyError(
    `${what} is stored in plaintext and EXTAUTH_DB_STRICT refuses plaintext rows; ` +
      'run `extauth db encrypt-tokens` to encrypt it, or re-link the user',
    null,
  );
}

/** Seals a token when a cipher is configured. An empty token (none stored) stays empty: there is nothing to hide. */
export function sealToken(plaintext: string, context: string, cipher: TokenCipher | undefined): StoredToken {
  if (!cipher || plaintext === '') return { value: plaintext, keyId: null };
  return cipher.seal(plaintext, context);
}

/**
 * EXTAUTH_DB_KEY ("<id>:<base64 of 32 bytes>") encrypts the token columns; EXTAUTH_DB_DECRYPT_KEYS
 * (comma-separated, same format) are older keys still needed to read rows not yet re-encrypted.
 * Without EXTAUTH_DB_KEY undefined is returned; store/db-key.ts decides whether a process may then run
 * (dev key, explicit plaintext opt-out) or must refuse to start.
 */
export function tokenCipherFromEnv(env: NodeJS.ProcessEnv, options: { rejectPlaintext?: boolean } = {}): TokenCipher | undefined {
  const older = olderDbKeysFromEnv(env);
  if (!env.EXTAUTH_DB_KEY?.trim()) {
    if (older.length) throw new CodecKeyError('EXTAUTH_DB_DECRYPT_KEYS is set but EXTAUTH_DB_KEY is not: set the key to encrypt tokens with');
    return undefined;
  }
  return new TokenCipher(parseCodecKey(env.EXTAUTH_DB_KEY, 'EXTAUTH_DB_KEY'), older, options);
}

/** EXTAUTH_DB_DECRYPT_KEYS: older database keys, still accepted when reading. */
export function olderDbKeysFromEnv(env: NodeJS.ProcessEnv): CodecKey[] {
  return (env.EXTAUTH_DB_DECRYPT_KEYS ?? '')
    .split(',')
    .filter((s) => s.trim())
    .map((s) => parseCodecKey(s, 'EXTAUTH_DB_DECRYPT_KEYS'));
}
