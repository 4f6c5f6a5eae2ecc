import { z } from 'zod';
import { tokenCipherForProcess } from '../../store/db-key.js';
import { putLink } from '../../store/links.js';
import { endpoints, linkOptions, linkSchema, parse, print, UsageError, validated, withClient, withPool, EXIT, type Command } from './args.js';
import { readTokenAnswer, type TokenAnswerFile } from './token-answer.js';

const TEN_YEARS = 10 * 365 * 86400;

/** Printed when tokens come as flags: they are then readable in ps, /proc/PID/cmdline and shell history. */
export const FLAG_FORM_WARNING =
  'extauth: warning: --access-token/--refresh-token put the tokens on the command line, where other local users ' +
  '(ps, /proc/PID/cmdline) and your shell history can read them; give the token endpoint answer with ' +
  '--tokens-from FILE or --tokens-from - (stdin) instead\n';

export const linkPutCommand: Command = {
  path: ['link', 'put'],
  usage:
    'link put --provider P --user U --tokens-from FILE|- [--expires-in SECONDS | --expires-at ISO] [--refresh-expires-in SECONDS]\n' +
    '    (FILE or stdin: the token endpoint JSON answer; --access-token A --refresh-token R still works but shows the tokens to ps)',
  summary: 'store a link as the OAuth callback would, clear any failure, tell a running workflow to reload',
  async run(args) {
    const { values } = parse(args, {
      ...linkOptions,
      'tokens-from': { type: 'string' },
      'access-token': { type: 'string' },
      'refresh-token': { type: 'string' },
      'expires-in': { type: 'string' },
      'expires-at': { type: 'string' },
      'refresh-expires-in': { type: 'string' },
      'token-type': { type: 'string' },
    });
    const input = validated(
      linkSchema.extend({
        tokensFrom: z.string().min(1).optional(),
        accessToken: z.string().min(1).optional(),
        refreshToken: z.string().min(1).optional(),
        expiresIn: z.coerce.number().int().positive().max(TEN_YEARS).optional(),
        expiresAt: z.iso.datetime({ offset: true }).optional(),
        /** The refresh token's own lifetime (the provider's refresh_token_expires_in); unknown without it. */
        refreshExpiresIn: z.coerce.number().int().positive().max(TEN_YEARS).optional(),
        tokenType: z.string().min(1).optional(),
      }),
      {
        provider: values.provider,
        user: values.user,
        tokensFrom: values['tokens-from'],
        accessToken: values['access-token'],
        refreshToken: values['refresh-token'],
        expiresIn: values['expires-in'],
        expiresAt: values['expires-at'],
        refreshExpiresIn: values['refresh-expires-in'],
        tokenType: values['token-type'],
      },
    );
    if (input.expiresIn !== undefined && input.expiresAt !== undefined) throw new UsageError('give at most one of --expires-in or --expires-at');
    const answer = await tokensOf(input);
    const expiresIn = input.expiresIn ?? answer.expiresIn;
    if (expiresIn === undefined && input.expiresAt === undefined) {
      throw new UsageError(`the access token's lifetime is unknown: give --expires-in SECONDS or --expires-at ISO${input.tokensFrom ? ' (the token answer has no expires_in)' : ''}`);
    }
    const expiresAt = input.expiresAt ? new Date(input.expiresAt) : new Date(Date.now() + expiresIn! * 1000);
    const lifetime = Math.round((expiresAt.getTime() - Date.now()) / 1000);
    const refreshExpiresIn = input.refreshExpiresIn ?? answer.refreshTokenExpiresIn;
    const tokenType = input.tokenType ?? answer.tokenType ?? 'bearer';
    // Encrypted at rest as the workers write them; refuses to run without the database key (store/db-key.ts).
    const cipher = tokenCipherForProcess(process.env, 'extauth link put', endpoints().dbKeyFile);
    const row = await withPool((pool) =>
      putLink(pool, { providerId: input.provider, userId: input.user }, {
        accessToken: answer.accessToken,
        refreshToken: answer.refreshToken,
        tokenType,
        expiresAt: expiresAt.toISOString(),
        refreshTokenExpiresAt: refreshExpiresIn === undefined ? null : new Date(Date.now() + refreshExpiresIn * 1000).toISOString(),
        extra: { ...answer.extra, token_type: tokenType, ...(lifetime > 0 ? { expires_in: lifetime } : {}) },
      }, cipher),
    );
    const notified = await withClient((c) => c.relinked(input));
    print(
      values.json
        ? { stored: true, tokenVersion: row.tokenVersion, workflowNotified: notified }
        : `stored link ${input.provider}/${input.user} (version ${row.tokenVersion})${notified ? '; running workflow told to reload' : ''}`,
    );
    return EXIT.ok;
  },
};

/** The tokens from --tokens-from (the safe form), or from the flags (with a warning). */
async function tokensOf(input: { tokensFrom?: string; accessToken?: string; refreshToken?: string }): Promise<TokenAnswerFile> {
  const flags = input.accessToken !== undefined || input.refreshToken !== undefined;
  if (input.tokensFrom !== undefined) {
    if (flags) throw new UsageError('give the tokens either with --tokens-from or with --access-token/--refresh-token, not both');
    return readTokenAnswer(input.tokensFrom);
  }
  if (input.accessToken === undefined || input.refreshToken === undefined) {
    throw new UsageError('no tokens: give --tokens-from FILE (or - for stdin) with the token endpoint answer {"access_token", "refresh_token", "expires_in", ...}');
  }
  process.stderr.write(FLAG_FORM_WARNING);
  return { accessToken: input.accessToken, refreshToken: input.refreshToken, expiresIn: undefined, refreshTokenExpiresIn: undefined, tokenType: undefined, extra: {} };
}
