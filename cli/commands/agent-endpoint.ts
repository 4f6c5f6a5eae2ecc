// `extauth agent-endpoint`: the HTTP endpoint agents call with their scoped keys (docs/agent-api.md).
import { z } from 'zod';
import { parse, validated, type Command } from './args.js';

export const agentEndpointCommand: Command = {
  path: ['agent-endpoint'],
  usage: 'agent-endpoint [--port P] [--host H] [--metrics-port P]',
  summary: 'serve agents holding scoped keys (TEMPORAL_ADDRESS, EXTAUTH_CODEC_KEY, DATABASE_URL, EXTAUTH_PROVIDERS); default 127.0.0.1:8480, metrics off',
  async run(args) {
    const { values } = parse(args, { port: { type: 'string' }, host: { type: 'string' }, 'metrics-port': { type: 'string' } });
    const options = validated(
      z.object({
        port: z.coerce.number().int().min(0).max(65535).default(8480),
        host: z.string().min(1).default('127.0.0.1'),
        metricsPort: z.coerce.number().int().min(0).max(65535).default(0),
      }),
      { port: values.port, host: values.host, metricsPort: values['metrics-port'] },
    );
    const { runAgentEndpointProcess } = await import('../../agent-api/process.js');
    return runAgentEndpointProcess(options);
  },
};
