import { z } from 'zod';
import { codecKeysFromEnv } from '../../codec/keys.js';
import { CodecServerConfigError, startCodecServer } from '../../codec/server.js';
import { ConfigError, readDevEndpoints, readEnv } from '../../config/env.js';
import { createLogger } from '../../config/logger.js';
import { listenForStop } from '../../config/stop-signals.js';
import { EXIT, parse, validated, type Command } from './args.js';

/** The Web UI of `extauth dev` and of `temporal server start-dev`, as a browser names it either way. */
export const LOCAL_WEB_UI_ORIGINS = ['http://127.0.0.1:8233', 'http://localhost:8233'];

export const codecServerCommand: Command = {
  path: ['codec-server'],
  usage: 'codec-server [--port P] [--listen ADDRESS] [--origin URL]... [--public-host NAME]...',
  summary:
    'decode payloads for the Web UI, tokens shown as fingerprints; only the given UI origins (default the local UI on 8233); ' +
    'EXTAUTH_CODEC_SERVER_TOKEN (bearer token) required off loopback',
  async run(args) {
    const { values } = parse(args, {
      port: { type: 'string' },
      listen: { type: 'string' },
      origin: { type: 'string', multiple: true },
      'public-host': { type: 'string', multiple: true },
    });
    const options = validated(
      z.object({
        port: z.coerce.number().int().min(1).max(65535).default(8888),
        listen: z.string().min(1).default('127.0.0.1'),
        origin: z
          .array(
            z.string().refine((o) => o !== '*', 'no wildcard: "*" would let any web page decrypt payloads; name the Web UI origins').pipe(z.url({ protocol: /^https?$/ })),
          )
          .default(LOCAL_WEB_UI_ORIGINS),
        'public-host': z.array(z.string().regex(/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/, 'a host name, without scheme or port')).default([]),
      }),
      values,
    );
    const stop = listenForStop((msg) => process.stderr.write(`${msg}\n`));
    // EXTAUTH_CODEC_KEY, else the dev key a running `extauth dev` published (never ./.extauth of the current folder).
    const keys = codecKeysFromEnv(process.env, readDevEndpoints(readEnv())?.codecKeyFile);
    const bearerToken = process.env.EXTAUTH_CODEC_SERVER_TOKEN || undefined;
    let started;
    try {
      started = await startCodecServer({
        keys,
        port: options.port,
        host: options.listen,
        allowedOrigins: options.origin,
        publicHosts: options['public-host'],
        bearerToken,
        logger: createLogger(),
      });
    } catch (err) {
      // The origins were checked above; what is left is the environment (no bearer token off loopback).
      if (err instanceof CodecServerConfigError) throw new ConfigError(err.message);
      throw err;
    }
    process.stderr.write(
      `extauth: codec server on ${started.url}/decode (origins: ${options.origin.join(', ')}; ` +
        `${bearerToken ? 'bearer token required' : 'no bearer token: loopback only'})\n`,
    );
    await stop.requested;
    await new Promise((resolve) => started.server.close(resolve));
    return EXIT.ok;
  },
};
