import { z } from 'zod';
import { putLink } from '../../store/links.js';
import { tokenCipherFromEnv } from '../../store/token-cipher.js';
import { linkOptions, linkSchema, parse, print, UsageError, validated, withClient, withPool, EXIT, type Command } from './args.js';

export const linkPutCommand: Command = {
  path: ['link', 'put'],
  usage: 'link put --provider P --user U --access-token A --refresh-token R (--expires-in SECONDS | --expires-at ISO) [--refresh-expires-in SECONDS]',
  summary: 'store a link as the OAuth callback would, clear any failure, tell a running workflow to reload',
  async run(args) {
    const { values } = parse(args, {
      ...linkOptions,
      'access-token': { type: 'string' },
      'refresh-token': { type: 'string' },
      'expires-in': { type: 'string' },
      'expires-at': { type: 'string' },
      'refresh-expires-in': { type: 'string' },
      'token-type': { type: 'string' },
    });
    const input = validated(
      linkSchema.extend({
        accessToken: z.string().min(1),
        refreshToken: z.string().min(1),
        expiresIn: z.coerce.number().int().positive().max(10 * 365 * 86400).optional(),
        expiresAt: z.iso.datetime({ offset: true }).optional(),
        /** The refresh token's own lifetime (the provider's refresh_token_expires_in); unknown without it. */
        refreshExpiresIn: z.coerce.number().int().positive().max(10 * 365 * 86400).optional(),
        tokenType: z.string().min(1).default('bearer'),
      }),
      {
        provider: values.provider,
        user: values.user,
        accessToken: values['access-token'],
        refreshToken: values['refresh-token'],
        expiresIn: values['expires-in'],
        expiresAt: values['expires-at'],
        refreshExpiresIn: values['refresh-expires-in'],
        tokenType: values['token-type'],
      },
    );
    if ((input.expiresIn === undefined) === (input.expiresAt === undefined)) throw new UsageError('give exactly one of --expires-in or --expires-at');
    const expiresAt = input.expiresAt ? new Date(input.expiresAt) : new Date(Date.now() + input.expiresIn! * 1000);
    const lifetime = Math.round((expiresAt.getTime() - Date.now()) / 1000);
    // With EXTAUTH_DB_KEY the tokens are stored encrypted, as the workers write them.
    const cipher = tokenCipherFromEnv(process.env);
    const row = await withPool((pool) =>
      putLink(pool, { providerId: input.provider, userId: input.user }, {
        accessToken: input.accessToken,
        refreshToken: input.refreshToken,
        tokenType: input.tokenType,
        expiresAt: expiresAt.toISOString(),
        refreshTokenExpiresAt: input.refreshExpiresIn === undefined ? null : new Date(Date.now() + input.refreshExpiresIn * 1000).toISOString(),
        extra: { token_type: input.tokenType, ...(lifetime > 0 ? { expires_in: lifetime } : {}) },
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
