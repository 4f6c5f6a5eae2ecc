import { z } from 'zod';
import { MAX_MIN_VALID_SECONDS, MAX_WAIT_SECONDS } from '../../workflows/messages.js';
import { agentClientFromEnv } from '../agent-mode.js';
import { DEFAULT_MIN_VALID_SECONDS } from '../index.js';
import { durationSeconds, EXIT, linkOptions, linkSchema, parse, print, validated, withClient, type Command } from './args.js';

export const tokenCommand: Command = {
  path: ['token'],
  usage: 'token --provider P --user U [--min-valid SECONDS] [--wait DURATION] [--json]',
  summary: 'a usable access token, refreshed first if it has less than SECONDS left (default 30); --wait: if the user must re-authenticate, wait up to DURATION (e.g. 10m) for it; with EXTAUTH_AGENT_URL and EXTAUTH_AGENT_KEY: through the agent endpoint',
  async run(args) {
    const { values } = parse(args, { ...linkOptions, 'min-valid': { type: 'string' }, wait: { type: 'string' } });
    const link = validated(linkSchema, values);
    const { minValid, wait } = validated(
      // Digits only: Number() would read "" as 0 and "0x10" as 16.
      z.object({
        minValid: z
          .string()
          .regex(/^\d{1,9}$/, 'a whole number of seconds')
          .transform(Number)
          .pipe(z.number().max(MAX_MIN_VALID_SECONDS))
          .default(DEFAULT_MIN_VALID_SECONDS),
        wait: durationSeconds.pipe(z.number().max(MAX_WAIT_SECONDS, `at most ${MAX_WAIT_SECONDS / 3600}h`)).default(0),
      }),
      { minValid: values['min-valid'], wait: values.wait },
    );
    const request = { ...link, minValidSeconds: minValid, waitSeconds: wait };
    // Agent mode (EXTAUTH_AGENT_URL): the endpoint with the agent's key; otherwise Temporal directly.
    const agent = agentClientFromEnv();
    const grant = agent ? await agent.getToken(request) : await withClient((c) => c.getToken(request));
    print(values.json ? grant : grant.accessToken);
    return EXIT.ok;
  },
};
