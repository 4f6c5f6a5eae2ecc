import { z } from 'zod';
import { linkOptions, linkSchema, parse, print, UsageError, validated, EXIT, type Command } from './args.js';
import { storeLink } from './store-link.js';
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
    const { tokenVersion, notified } = await storeLink(input, answer, {
      command: 'extauth link put',
      expiresAt: input.expiresAt ? new Date(input.expiresAt) : new Date(Date.now() + expiresIn! * 1000),
      refreshExpiresIn: input.refreshExpiresIn,
      tokenType: input.tokenType,
    });
    print(
      values.json
        ? { stored: true, tokenVersion: tokenVersion, workflowNotified: notified }
        : `stored link ${input.provider}/${input.user} (version ${tokenVersion})${notified ? '; running workflow told to reload' : ''}`,
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
