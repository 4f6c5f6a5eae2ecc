import { z } from 'zod';
import { formatCodecKey, generateCodecKey } from '../../codec/keys.js';
import { EXIT, parse, print, validated, type Command } from './args.js';

export const codecKeyCommand: Command = {
  path: ['codec-key'],
  usage: 'codec-key [--id ID]',
  summary: 'print a new key for EXTAUTH_CODEC_KEY or EXTAUTH_WORKER_KEY ("<id>:<base64 of 32 bytes>"; a different one for each)',
  async run(args) {
    const { values } = parse(args, { id: { type: 'string' } });
    const { id } = validated(z.object({ id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional() }), values);
    print(formatCodecKey(generateCodecKey(id)));
    return EXIT.ok;
  },
};
