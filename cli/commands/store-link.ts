// Storing a link as the OAuth callback would (`link put`, `link login`): the token answer written encrypted with the
// process's database key, any failure cleared, and the link's run told (`relinked`), which wakes agents waiting on it.
import { tokenCipherForProcess } from '../../store/db-key.js';
import { putLink } from '../../store/links.js';
import { endpoints, withClient, withPool } from './args.js';
import type { TokenAnswerFile } from './token-answer.js';

export interface StoreOptions {
  /** Named in the refusal when no database key is configured. */
  command: string;
  /** When the access token expires (the caller resolved expires_in or a flag). */
  expiresAt: Date;
  /** Overrides of the answer's refresh_token_expires_in and token_type (link put's flags). */
  refreshExpiresIn?: number | undefined;
  tokenType?: string | undefined;
}

export async function storeLink(
  link: { provider: string; user: string },
  answer: TokenAnswerFile,
  options: StoreOptions,
): Promise<{ tokenVersion: number; notified: boolean }> {
  const lifetime = Math.round((options.expiresAt.getTime() - Date.now()) / 1000);
  const refreshExpiresIn = options.refreshExpiresIn ?? answer.refreshTokenExpiresIn;
  const tokenType = options.tokenType ?? answer.tokenType ?? 'bearer';
  // Encrypted at rest as the workers write them; refuses to run without the database key (store/db-key.ts).
  const cipher = tokenCipherForProcess(process.env, options.command, endpoints().dbKeyFile);
  const row = await withPool((pool) =>
    putLink(pool, { providerId: link.provider, userId: link.user }, {
      accessToken: answer.accessToken,
      refreshToken: answer.refreshToken,
      tokenType,
      expiresAt: options.expiresAt.toISOString(),
      refreshTokenExpiresAt: refreshExpiresIn === undefined ? null : new Date(Date.now() + refreshExpiresIn * 1000).toISOString(),
      extra: { ...answer.extra, token_type: tokenType, ...(lifetime > 0 ? { expires_in: lifetime } : {}) },
    }, cipher),
  );
  const notified = await withClient((c) => c.relinked(link));
  return { tokenVersion: row.tokenVersion, notified };
}
