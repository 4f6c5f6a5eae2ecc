// `npm run cluster`: starts the local multi-service cluster (launch.ts), prints one ready line, runs until
// SIGTERM/SIGINT or its parent's death, then stops everything it started (run-until-stopped.ts).
import { startLocalCluster } from './launch.js';
import { clusterRunDir } from './run-dir.js';
import { runUntilStopped } from './run-until-stopped.js';

const say = (msg: string) => process.stderr.write(`${msg}\n`);
const began = Date.now();

process.exitCode = await runUntilStopped(
  'extauth cluster',
  async (checkStop) => {
    const cluster = await startLocalCluster({ say, dir: clusterRunDir(), checkStop });
    const { shards, persistence, tls, workers, ...line } = cluster.ready;
    return {
      readyLine: `extauth ready ${JSON.stringify(line)}`,
      summary: `extauth cluster: up in ${((Date.now() - began) / 1000).toFixed(1)} s: ${shards} shards, ${persistence}, tls=${tls}, ${workers} workers; Ctrl-C stops it`,
      stop: () => cluster.stop(),
    };
  },
  say,
);
