import { join } from 'node:path';
import { z } from 'zod';
import { codecKeysFromEnv } from '../../codec/keys.js';
import { createCodecServer } from '../../codec/server.js';
import { readEnv } from '../../config/env.js';
import { createLogger } from '../../config/logger.js';
import { listenForStop } from '../../config/stop-signals.js';
import { EXIT, parse, validated, type Command } from './args.js';

export const codecServerCommand: Command = {
  path: ['codec-server'],
  usage: 'codec-server [--port P] [--origin URL]...',
  summary: 'decode payloads for the Web UI, tokens shown as fingerprints (EXTAUTH_CODEC_SERVER_TOKEN: bearer token)',
  async run(args) {
    const { values } = parse(args, { port: { type: 'string' }, origin: { type: 'string', multiple: true } });
    const { port, origin } = validated(
      z.object({ port: z.coerce.number().int().min(1).max(65535).default(8888), origin: z.array(z.url()).default(['*']) }),
      values,
    );
    const stop = listenForStop((msg) => process.stderr.write(`${msg}\n`));
    const env = readEnv();
    const keys = codecKeysFromEnv(process.env, join(env.EXTAUTH_DATA_DIR, 'codec.key'));
    const server = createCodecServer({ keys, allowedOrigins: origin, bearerToken: process.env.EXTAUTH_CODEC_SERVER_TOKEN, logger: createLogger() });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    process.stderr.write(
      `extauth: codec server on http://127.0.0.1:${port}/decode (origins: ${origin.join(', ')}; ` +
        `${process.env.EXTAUTH_CODEC_SERVER_TOKEN ? 'bearer token required' : 'no bearer token: loopback/dev only'})\n`,
    );
    await stop.requested;
    await new Promise((resolve) => server.close(resolve));
    return EXIT.ok;
  },
};
