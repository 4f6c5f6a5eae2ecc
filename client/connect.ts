import { Client, Connection } from '@temporalio/client';
import { extauthDataConverter } from '../codec/data-converter.js';
import { codecKeysFromEnv } from '../codec/keys.js';
import type { Endpoints } from '../config/env.js';
import { temporalConnectionOptions } from '../config/temporal-connection.js';
import { ExtauthClient, extauthGrpcInterceptors } from './index.js';

export class UnreachableError extends Error {}

/** An ExtauthClient on the configured Temporal server; fails with a message that names the address. */
export async function connectClient(endpoints: Endpoints): Promise<{ client: ExtauthClient; close(): Promise<void> }> {
  const dataConverter = extauthDataConverter(codecKeysFromEnv(process.env, endpoints.codecKeyFile));
  let connection: Connection;
  try {
    const { address, tls, apiKey, metadata } = temporalConnectionOptions(endpoints.temporalAddress);
    connection = await Connection.connect({ address, tls, apiKey, metadata, connectTimeout: 5_000, interceptors: extauthGrpcInterceptors() });
  } catch (err) {
    throw new UnreachableError(
      `cannot reach Temporal at ${endpoints.temporalAddress} (${(err as Error).message}); is \`extauth dev\` or your cluster running?`,
    );
  }
  const temporal = new Client({ connection, namespace: endpoints.namespace, dataConverter });
  return { client: new ExtauthClient(temporal, { taskQueue: endpoints.taskQueue }), close: () => connection.close() };
}
