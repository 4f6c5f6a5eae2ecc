// The cluster's mTLS material, made with the `openssl` CLI: a CA, a frontend certificate for 127.0.0.1 and
// localhost, and one client certificate (workers, the agent endpoint, the CLI, Temporal's own system worker).
// Private keys and certificates are 0600 in a 0700 folder.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensurePrivateDir, restrictFile, writePrivateFile } from '../../core/private-files.js';

const run = promisify(execFile);

export interface ClusterCerts {
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** The name clients check the frontend's certificate against. */
  serverName: string;
}

export const CLUSTER_SERVER_NAME = 'localhost';
const DAYS = '30';

export function clusterCertPaths(dir: string): ClusterCerts {
  return {
    caCert: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
    serverName: CLUSTER_SERVER_NAME,
  };
}

/** Creates the certificates in `dir` unless all are there already. */
export async function ensureClusterCerts(dir: string): Promise<ClusterCerts> {
  ensurePrivateDir(dir);
  const paths = clusterCertPaths(dir);
  if ([paths.caCert, paths.serverCert, paths.serverKey, paths.clientCert, paths.clientKey].every(existsSync)) return paths;
  const openssl = async (...args: string[]) => {
    try {
      await run('openssl', args, { cwd: dir });
    } catch (err) {
      throw new Error(`openssl ${args[0]} failed (${(err as Error).message.split('\n')[0]}); the cluster needs the openssl command`);
    }
  };
  const caKey = join(dir, 'ca.key');
  await openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', DAYS,
    '-subj', '/CN=extauth cluster CA', '-keyout', caKey, '-out', paths.caCert,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  await issue(openssl, { caKey, caCert: paths.caCert, key: paths.serverKey, cert: paths.serverCert, dir, name: 'server',
    subject: `/CN=${CLUSTER_SERVER_NAME}`, extensions: `subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n` });
  await issue(openssl, { caKey, caCert: paths.caCert, key: paths.clientKey, cert: paths.clientCert, dir, name: 'client',
    subject: '/CN=extauth cluster client', extensions: 'extendedKeyUsage=clientAuth\n' });
  for (const file of readdirSync(dir)) restrictFile(join(dir, file));
  return paths;
}

async function issue(
  openssl: (...args: string[]) => Promise<void>,
  o: { caKey: string; caCert: string; key: string; cert: string; dir: string; name: string; subject: string; extensions: string },
): Promise<void> {
  const csr = join(o.dir, `${o.name}.csr`);
  const ext = join(o.dir, `${o.name}.ext`);
  writePrivateFile(ext, o.extensions);
  await openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', o.subject, '-keyout', o.key, '-out', csr);
  await openssl('x509', '-req', '-in', csr, '-CA', o.caCert, '-CAkey', o.caKey, '-CAcreateserial', '-days', DAYS, '-extfile', ext, '-out', o.cert);
  // Only the keys and certificates stay: the request and extension files are of no further use.
  rmSync(csr);
  rmSync(ext);
}
