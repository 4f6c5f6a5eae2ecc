// `extauth setup-namespace`: creates the namespace if missing, registers the search attributes, prints the dynamic config.
import { z } from 'zod';
import { ConfigError, readEnv } from '../../config/env.js';
import { EXIT, parse, print, validated, type Command } from './args.js';

export const setupNamespaceCommand: Command = {
  path: ['setup-namespace'],
  usage: 'setup-namespace [--retention-days N]',
  summary:
    'create TEMPORAL_NAMESPACE if missing (retention, default 7 days), register extauth\'s search attributes, print the dynamic config extauth relies on ' +
    '(TEMPORAL_ADDRESS and the TEMPORAL_TLS_* / TEMPORAL_API_KEY variables)',
  async run(args) {
    const { values } = parse(args, { 'retention-days': { type: 'string' } });
    const { retentionDays } = validated(z.object({ retentionDays: z.coerce.number().int().min(1).max(3650).default(7) }), {
      retentionDays: values['retention-days'],
    });
    const env = readEnv();
    // Deliberately no dev.json fallback: this command configures a real cluster, named explicitly.
    const address = env.TEMPORAL_ADDRESS;
    if (!address) {
      throw new ConfigError('no Temporal server: set TEMPORAL_ADDRESS (host:port) and, for TLS, TEMPORAL_TLS_* or TEMPORAL_API_KEY');
    }
    const [{ NativeConnection }, { temporalConnectionOptions }, { setupNamespace, dynamicConfigInstructions }, { UnreachableError }] = await Promise.all([
      import('@temporalio/worker'),
      import('../../config/temporal-connection.js'),
      import('../namespace-setup.js'),
      import('../../client/connect.js'),
    ]);
    let connection;
    try {
      connection = await NativeConnection.connect(temporalConnectionOptions(address));
    } catch (err) {
      throw new UnreachableError(`cannot reach Temporal at ${address} (${(err as Error).message}); check TEMPORAL_ADDRESS and the TEMPORAL_TLS_* variables`);
    }
    try {
      await setupNamespace(connection, { namespace: env.TEMPORAL_NAMESPACE, retentionDays, say: print });
    } finally {
      await connection.close();
    }
    print(dynamicConfigInstructions(env.TEMPORAL_NAMESPACE));
    return EXIT.ok;
  },
};
