// Connection options for production clusters through Temporal's environment configuration
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE and the
// temporal.toml profile file), with the address extauth resolved (env or a running `extauth dev`).
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

export function temporalConnectionOptions(address: string): NativeConnectionOptions {
  const { connectionOptions } = loadClientConnectConfig();
  return { ...connectionOptions, address };
}
