// The one rule for which database key a process that writes or reads tokens uses, or whether it may run at all.
// Tokens are encrypted at rest by default: EXTAUTH_DB_KEY, else the key of a running `extauth dev` (its
// .extauth/db.key, found through dev.json), else the process refuses to start unless the operator opted out
// explicitly with EXTAUTH_DB_PLAINTEXT=allow. EXTAUTH_DB_STRICT=1 additionally refuses plaintext rows on read.
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseCodecKey } from '../codec/keys.js';
import { ConfigError } from '../config/env.js';
import { olderDbKeysFromEnv, TokenCipher, tokenCipherFromEnv } from './token-cipher.js';

const dbEnvSchema = z.object({
  EXTAUTH_DB_PLAINTEXT: z.enum(['allow']).optional(),
  EXTAUTH_DB_STRICT: z.enum(['0', '1', 'false', 'true']).optional(),
});

/** What each setting means, for error messages (never a key value). */
const ENCRYPT_HINT =
  'set EXTAUTH_DB_KEY="<key id>:<base64 of 32 bytes>" (generate one with `extauth codec-key`; the same key on every worker and ' +
  '`link put`), or run next to a running `extauth dev`, which creates one';
const OPT_OUT_HINT = 'or, to store tokens in plaintext knowingly, set EXTAUTH_DB_PLAINTEXT=allow';

/**
 * The token-column cipher for a process, or undefined when the operator opted out (EXTAUTH_DB_PLAINTEXT=allow).
 * `who` names the process in the error (e.g. "extauth worker"); `devKeyFile` is the dev database key
 * (Endpoints.dbKeyFile, or the file `extauth dev` itself just ensured). Throws ConfigError saying both options.
 */
export function tokenCipherForProcess(env: NodeJS.ProcessEnv, who: string, devKeyFile?: string): TokenCipher | undefined {
  const parsed = dbEnvSchema.safeParse(env);
  if (!parsed.success) {
    // The values of these two variables are not secret; zod's message names the accepted ones.
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  const rejectPlaintext = parsed.data.EXTAUTH_DB_STRICT === '1' || parsed.data.EXTAUTH_DB_STRICT === 'true';
  const fromEnv = tokenCipherFromEnv(env, { rejectPlaintext });
  if (fromEnv) return fromEnv;
  if (devKeyFile && existsSync(devKeyFile)) {
    return new TokenCipher(parseCodecKey(readFileSync(devKeyFile, 'utf8'), devKeyFile), olderDbKeysFromEnv(env), { rejectPlaintext });
  }
  if (parsed.data.EXTAUTH_DB_PLAINTEXT === 'allow') {
    if (rejectPlaintext) throw new ConfigError('EXTAUTH_DB_STRICT refuses plaintext tokens but EXTAUTH_DB_PLAINTEXT=allow stores them: set EXTAUTH_DB_KEY');
    return undefined;
  }
  throw new ConfigError(`${who} stores or reads OAuth tokens and refuses to keep them in plaintext: ${ENCRYPT_HINT}; ${OPT_OUT_HINT}`);
}
