import { z } from 'zod';
import { FINGERPRINT_PATTERN, MAX_MIN_VALID_SECONDS, MAX_WAIT_SECONDS } from '../../workflows/messages.js';
import { agentClientFromEnv } from '../agent-mode.js';
import { DEFAULT_MIN_VALID_SECONDS } from '../../client/index.js';
import { durationSeconds, EXIT, linkOptions, linkSchema, parse, print, validated, withClient, type Command } from './args.js';

export const tokenCommand: Command = {
  path: ['token'],
  usage: 'token --provider P --user U [--min-valid SECONDS] [--wait DURATION] [--rejected FINGERPRINT] [--json]',
  summary:
    'a usable access token, refreshed first if it has less than SECONDS left (default 30; where a refresh would end tokens other agents hold before their told expiresAt, the current one with the life it has); --wait: if the user must re-authenticate, wait up to DURATION (e.g. 10m) for it; --rejected: the provider refused the token with this fingerprint (401): check it, replace it if refused; with EXTAUTH_AGENT_URL and EXTAUTH_AGENT_KEY: through the agent endpoint',
  async run(args) {
    const { values } = parse(args, { ...linkOptions, 'min-valid': { type: 'string' }, wait: { type: 'string' }, rejected: { type: 'string' } });
    const link = validated(linkSchema, values);
    const { minValid, wait, rejected } = validated(
      // Digits only: Number() would read "" as 0 and "0x10" as 16.
      z.object({
        minValid: z
          .string()
          .regex(/^\d{1,9}$/, 'a whole number of seconds')
          .transform(Number)
          .pipe(z.number().max(MAX_MIN_VALID_SECONDS))
          .default(DEFAULT_MIN_VALID_SECONDS),
        wait: durationSeconds.pipe(z.number().max(MAX_WAIT_SECONDS, `at most ${MAX_WAIT_SECONDS / 3600}h`)).default(0),
        // A fingerprint (not a secret): what `extauth status` shows, the first 12 hex characters of the token's SHA-256.
        rejected: z.string().regex(FINGERPRINT_PATTERN, 'the 12 lower-case hex characters of a token fingerprint').optional(),
      }),
      { minValid: values['min-valid'], wait: values.wait, rejected: values.rejected },
    );
    const request = { ...link, minValidSeconds: minValid, waitSeconds: wait, ...(rejected ? { rejectedFingerprint: rejected } : {}) };
    // Agent mode (EXTAUTH_AGENT_URL): the endpoint with the agent's key; otherwise Temporal directly.
    const agent = agentClientFromEnv();
    const grant = agent ? await agent.getToken(request) : await withClient((c) => c.getToken(request));
    print(values.json ? grant : grant.accessToken);
    return EXIT.ok;
  },
};
