// Token material sealed with the worker key (EXTAUTH_WORKER_KEY), which only workers hold. Every payload is also
// encrypted with the payload key (EXTAUTH_CODEC_KEY), but clients, agents' back ends and the codec server hold
// that one too: whoever holds it and can read the namespace would read every history. What is sealed here (a
// refresh token, an id_token) stays ciphertext to them; workflow code passes it through without opening it.
import type { LinkKey } from '../core/types.js';
import { TokenCipher, TokenKeyError } from '../store/token-cipher.js';
import { CodecKeyError, ensureDevCodecKey, keyringFromEnv, type CodecKeys } from './keys.js';

/** "extauth-sealed:v1:<key id>:<base64 of iv | ciphertext | tag>"; key ids and base64 hold no colon. */
const PREFIX = 'extauth-sealed:v1:';

export const WORKER_KEY_ENV = {
  key: 'EXTAUTH_WORKER_KEY',
  decryptKeys: 'EXTAUTH_WORKER_DECRYPT_KEYS',
  missing:
    'no worker key: workers seal refresh tokens in workflow history with a key that only workers hold. ' +
    'Set EXTAUTH_WORKER_KEY="<key id>:<base64 of 32 bytes>" (generate one with `extauth codec-key`; it must differ from EXTAUTH_CODEC_KEY ' +
    'and must never be given to clients or agents), or run next to a running `extauth dev`, which creates one',
};

/** A sealed value cannot be opened: its worker key is not configured, or the value does not decrypt with it. */
export class SealedValueError extends Error {
  constructor(
    message: string,
    readonly keyId: string,
  ) {
    super(message);
    this.name = 'SealedValueError';
  }
}

export function isSealed(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(PREFIX);
}

/** Seals with the current worker key; opens with any configured one (current + EXTAUTH_WORKER_DECRYPT_KEYS, for rotation). */
export class TokenSealer {
  private readonly cipher: TokenCipher;

  constructor(private readonly keys: CodecKeys) {
    this.cipher = new TokenCipher(keys.current, [...keys.decrypt].map(([id, key]) => ({ id, key })));
  }

  /** True when any of these keys' bytes is one of the sealer's: a worker key shared with clients protects nothing. */
  sharesKeyWith(other: CodecKeys): boolean {
    return [...other.decrypt.values()].some((key) => [...this.keys.decrypt.values()].some((own) => own.equals(key)));
  }

  /** `value` as JSON, bound to its link: a sealed value copied to another link does not open. */
  seal(value: unknown, link: LinkKey): string {
    const { value: data, keyId } = this.cipher.seal(JSON.stringify(value), context(link));
    return `${PREFIX}${keyId}:${data}`;
  }

  /** `what` names the value in errors (e.g. "the exchange answer of link github/alice"); never the value itself. */
  open<T>(sealed: string, link: LinkKey, what: string): T {
    const [keyId, data] = isSealed(sealed) ? sealed.slice(PREFIX.length).split(':') : [];
    if (!keyId || !data) throw new SealedValueError(`${what} is not a sealed value`, '');
    if (!this.cipher.hasKey(keyId)) {
      throw new SealedValueError(
        `${what} is sealed with worker key "${keyId}", which is not configured (current key "${this.keys.current.id}"); add it to EXTAUTH_WORKER_DECRYPT_KEYS`,
        keyId,
      );
    }
    try {
      return JSON.parse(this.cipher.open({ value: data, keyId }, context(link), what)) as T;
    } catch (err) {
      if (!(err instanceof TokenKeyError)) throw err;
      throw new SealedValueError(
        `${what} does not open with worker key "${keyId}": the configured key with that id is not the one that sealed it, or the value was altered`,
        keyId,
      );
    }
  }
}

function context(link: LinkKey): string {
  return JSON.stringify(['sealed-token-material', link.providerId, link.userId]);
}

/** EXTAUTH_WORKER_KEY (else `keyFile`, the dev key) and EXTAUTH_WORKER_DECRYPT_KEYS; throws a CodecKeyError saying what to set. */
export function tokenSealerFromEnv(env: NodeJS.ProcessEnv, keyFile?: string): TokenSealer {
  return new TokenSealer(keyringFromEnv(env, WORKER_KEY_ENV, keyFile));
}

/** `extauth dev`'s worker key file (`.extauth/worker.key`, created once, 0600), unless EXTAUTH_WORKER_KEY is set. Only its worker gets it. */
export function devTokenSealer(env: NodeJS.ProcessEnv, keyFile: string): TokenSealer {
  ensureDevCodecKey(keyFile);
  return tokenSealerFromEnv(env, keyFile);
}

/** Workers refuse a worker key that is also a payload key: clients hold those. */
export function assertWorkerKeyApart(sealer: TokenSealer, codecKeys: CodecKeys | undefined): void {
  if (codecKeys && sealer.sharesKeyWith(codecKeys)) {
    throw new CodecKeyError('EXTAUTH_WORKER_KEY must not be a payload key (EXTAUTH_CODEC_KEY or one of EXTAUTH_CODEC_DECRYPT_KEYS): clients hold those; generate its own with `extauth codec-key`');
  }
}
