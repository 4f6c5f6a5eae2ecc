// The one configuration file every Temporal service process of the local cluster reads (JSON, which is YAML):
// PostgreSQL persistence and SQL visibility, 4 history shards, mTLS on the frontend, each service on its own ports,
// no metrics and no pprof (four processes would fight over one port), and a dynamic config file of extauth's values.
import { join } from 'node:path';
import { writePrivateFile } from '../../core/private-files.js';
import type { ClusterCerts } from './certs.js';

export const CLUSTER_SERVICES = ['history', 'matching', 'frontend', 'worker'] as const;
export type ClusterService = (typeof CLUSTER_SERVICES)[number];
export const HISTORY_SHARDS = 4;

export interface ServicePorts {
  grpcPort: number;
  membershipPort: number;
  httpPort?: number;
}

export interface ClusterConfigInput {
  dir: string;
  postgres: { port: number; password: string };
  ports: Record<ClusterService, ServicePorts>;
  certs: ClusterCerts;
}

/**
 * What extauth expects of the cluster's dynamic config (printed by `extauth setup-namespace` for other clusters):
 * stuck runs flagged after 2 failed tasks (docs/operations.md, section 5).
 */
export const CLUSTER_DYNAMIC_CONFIG = {
  'system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute': [{ value: 2 }],
};

function datastore(database: string, input: ClusterConfigInput, maxConns: number) {
  return {
    sql: {
      pluginName: 'postgres12',
      databaseName: database,
      connectAddr: `127.0.0.1:${input.postgres.port}`,
      connectProtocol: 'tcp',
      user: 'postgres',
      password: input.postgres.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  };
}

/** Writes the server config and its dynamic config (both 0600: the database password is in it); returns the config path. */
export function writeClusterConfig(input: ClusterConfigInput): string {
  const dynamicConfigFile = join(input.dir, 'dynamicconfig.yaml');
  writePrivateFile(dynamicConfigFile, JSON.stringify(CLUSTER_DYNAMIC_CONFIG, null, 2));
  const { certs, ports } = input;
  const config = {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: HISTORY_SHARDS,
      datastores: {
        'postgres-default': datastore('temporal', input, 20),
        'postgres-visibility': datastore('temporal_visibility', input, 4),
      },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
      tls: {
        frontend: {
          server: { certFile: certs.serverCert, keyFile: certs.serverKey, requireClientAuth: true, clientCaFiles: [certs.caCert] },
          client: { serverName: certs.serverName, rootCaFiles: [certs.caCert] },
        },
        // Temporal's own system worker is a client of the frontend like any other: it needs a client certificate.
        systemWorker: { certFile: certs.clientCert, keyFile: certs.clientKey, client: { serverName: certs.serverName, rootCaFiles: [certs.caCert] } },
      },
    },
    services: Object.fromEntries(
      Object.entries(ports).map(([service, p]) => [service, { rpc: { ...p, bindOnLocalHost: true } }]),
    ),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${ports.frontend.grpcPort}` },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: dynamicConfigFile, pollInterval: '10s' },
  };
  const file = join(input.dir, 'temporal.yaml');
  writePrivateFile(file, JSON.stringify(config, null, 2));
  return file;
}
