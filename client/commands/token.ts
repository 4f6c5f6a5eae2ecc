import { z } from 'zod';
import { MAX_MIN_VALID_SECONDS } from '../../workflows/messages.js';
import { DEFAULT_MIN_VALID_SECONDS } from '../index.js';
import { EXIT, linkOptions, linkSchema, parse, print, validated, withClient, type Command } from './args.js';

export const tokenCommand: Command = {
  path: ['token'],
  usage: 'token --provider P --user U [--min-valid SECONDS] [--json]',
  summary: 'a usable access token, refreshed first if it has less than SECONDS left (default 30)',
  async run(args) {
    const { values } = parse(args, { ...linkOptions, 'min-valid': { type: 'string' } });
    const link = validated(linkSchema, values);
    const { minValid } = validated(
      // Digits only: Number() would read "" as 0 and "0x10" as 16.
      z.object({
        minValid: z
          .string()
          .regex(/^\d{1,9}$/, 'a whole number of seconds')
          .transform(Number)
          .pipe(z.number().max(MAX_MIN_VALID_SECONDS))
          .default(DEFAULT_MIN_VALID_SECONDS),
      }),
      { minValid: values['min-valid'] },
    );
    const grant = await withClient((c) => c.getToken({ ...link, minValidSeconds: minValid }));
    print(values.json ? grant : grant.accessToken);
    return EXIT.ok;
  },
};
