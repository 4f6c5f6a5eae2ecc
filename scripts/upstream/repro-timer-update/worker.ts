// A worker in its own process, so the repro can SIGKILL it. Args: <address> <taskQueue> <bundlePath> <name>
// Env REPRO_FAIL_ON_NONDETERMINISM=1: workflowFailureErrorTypes { '*': ['NondeterminismError'] } (a nondeterminism error
// fails the run instead of failing (and retrying) its workflow task).
import { NativeConnection, Runtime, DefaultLogger, Worker } from '@temporalio/worker';
import * as activities from './activities.js';

const [address, taskQueue, bundlePath, name] = process.argv.slice(2);
if (!address || !taskQueue || !bundlePath || !name) throw new Error('usage: worker.ts <address> <taskQueue> <bundlePath> <name>');

Runtime.install({
  logger: new DefaultLogger('WARN', (entry) => {
    console.log(`[worker ${name}] ${entry.level} ${entry.message} ${entry.meta ? JSON.stringify(entry.meta) : ''}`);
  }),
});
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  taskQueue,
  workflowBundle: { codePath: bundlePath },
  activities,
  ...(process.env.REPRO_FAIL_ON_NONDETERMINISM === '1' ? { workflowFailureErrorTypes: { '*': ['NondeterminismError'] } } : {}),
});
console.log('READY');
await worker.run();
