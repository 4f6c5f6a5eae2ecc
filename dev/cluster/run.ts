// `npm run cluster`: starts the local multi-service cluster (launch.ts), prints one ready line, runs until
// SIGTERM/SIGINT, then stops everything it started.
import { listenForStop, StopRequested } from '../../config/stop-signals.js';
import { startLocalCluster } from './launch.js';
import { clusterRunDir } from './run-dir.js';

const say = (msg: string) => process.stderr.write(`${msg}\n`);

async function main(): Promise<number> {
  const stop = listenForStop(say);
  const started = Date.now();
  let cluster;
  try {
    cluster = await startLocalCluster({ say, dir: clusterRunDir(), checkStop: () => stop.throwIfRequested() });
  } catch (err) {
    if (err instanceof StopRequested) {
      say(`extauth cluster: ${err.reason} during startup; stopped what had started`);
      return 0;
    }
    say(`extauth cluster: ${(err as Error).message}`);
    return 1;
  }
  const { ready } = cluster;
  const { shards, persistence, tls, workers, ...line } = ready;
  console.log(`extauth ready ${JSON.stringify(line)}`);
  say(`extauth cluster: up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${shards} shards, ${persistence}, tls=${tls}, ${workers} workers; Ctrl-C stops it`);
  const reason = await stop.requested;
  say(`extauth cluster: ${reason}, stopping`);
  await cluster.stop();
  say('extauth cluster: stopped');
  return 0;
}

process.exitCode = await main();
