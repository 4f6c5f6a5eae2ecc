// The cluster launcher's certificates and Temporal config (dev/cluster/): a CA that signs a server certificate for the
// frontend's name and address and a client certificate, secret files 0600 in a 0700 folder; the server config asks
// for client certificates and names the shards and Postgres stores. `npm run cluster:smoke` runs the real thing.
// (Harvested from the `cluster` branch, fitted to the launcher as merged.)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { CLUSTER_SERVER_NAME, ensureClusterCerts } from '../dev/cluster/certs.js';
import { CLUSTER_SERVICES, HISTORY_SHARDS, writeClusterConfig, type ClusterService, type ServicePorts } from '../dev/cluster/config.js';

const dir = mkdtempSync(join(tmpdir(), 'extauth-cluster-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const verify = (ca: string, cert: string, ...extra: string[]) => spawnSync('openssl', ['verify', '-CAfile', ca, ...extra, cert], { encoding: 'utf8' }).status;

it('certificates: signed by the CA for the right purposes and names, 0600 files in a 0700 folder, kept across restarts', async () => {
  const tls = join(dir, 'tls');
  const certs = await ensureClusterCerts(tls);
  expect(statSync(tls).mode & 0o777).toBe(0o700);
  for (const file of readdirSync(tls)) expect(statSync(join(tls, file)).mode & 0o777, file).toBe(0o600);
  expect(verify(certs.caCert, certs.serverCert, '-purpose', 'sslserver', '-verify_hostname', CLUSTER_SERVER_NAME)).toBe(0);
  expect(verify(certs.caCert, certs.serverCert, '-purpose', 'sslserver', '-verify_ip', '127.0.0.1')).toBe(0);
  expect(verify(certs.caCert, certs.clientCert, '-purpose', 'sslclient')).toBe(0);
  // Controls: the same checks fail for a wrong name, a wrong purpose and another CA.
  expect(verify(certs.caCert, certs.serverCert, '-purpose', 'sslserver', '-verify_hostname', 'evil.example')).not.toBe(0);
  expect(verify(certs.caCert, certs.clientCert, '-purpose', 'sslserver')).not.toBe(0);
  const other = await ensureClusterCerts(join(dir, 'other-tls'));
  expect(verify(other.caCert, certs.serverCert)).not.toBe(0);
  // No intermediate files (CSRs, extension files) left beside the keys.
  expect(readdirSync(tls).filter((f) => /\.(csr|ext)$/.test(f))).toEqual([]);

  const before = statSync(certs.caCert).mtimeMs;
  await ensureClusterCerts(tls);
  expect(statSync(certs.caCert).mtimeMs).toBe(before);
});

it('server config: the shards, Postgres stores, an mTLS frontend requiring client certificates, one port set per service; 0600 (it holds the password)', async () => {
  const certs = await ensureClusterCerts(join(dir, 'tls'));
  const ports = Object.fromEntries(
    CLUSTER_SERVICES.map((s, i) => [s, { grpcPort: 27300 + i, membershipPort: 27400 + i, ...(s === 'frontend' ? { httpPort: 27500 } : {}) }]),
  ) as Record<ClusterService, ServicePorts>;
  const file = writeClusterConfig({ dir, postgres: { port: 5432, password: 'p"w' }, ports, certs });
  expect(statSync(file).mode & 0o777).toBe(0o600);
  const parsed = JSON.parse(readFileSync(file, 'utf8'));
  expect(HISTORY_SHARDS).toBeGreaterThanOrEqual(4);
  expect(parsed.persistence.numHistoryShards).toBe(HISTORY_SHARDS);
  expect(parsed.persistence.datastores['postgres-default'].sql).toMatchObject({ pluginName: 'postgres12', databaseName: 'temporal', password: 'p"w' });
  expect(parsed.persistence.datastores['postgres-visibility'].sql).toMatchObject({ pluginName: 'postgres12', databaseName: 'temporal_visibility' });
  expect(parsed.global.tls.frontend.server).toEqual({ certFile: certs.serverCert, keyFile: certs.serverKey, requireClientAuth: true, clientCaFiles: [certs.caCert] });
  expect(parsed.global.tls.systemWorker).toMatchObject({ certFile: certs.clientCert, keyFile: certs.clientKey, client: { serverName: CLUSTER_SERVER_NAME, rootCaFiles: [certs.caCert] } });
  expect(Object.keys(parsed.services).sort()).toEqual([...CLUSTER_SERVICES].sort());
  expect(parsed.clusterMetadata.clusterInformation.active.rpcAddress).toBe(`127.0.0.1:${ports.frontend.grpcPort}`);
  const dynamic = JSON.parse(readFileSync(parsed.dynamicConfigClient.filepath, 'utf8'));
  expect(dynamic['system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute']).toEqual([{ value: 2 }]);
});
