// Child process of worker/bundle.ts: bundles the link workflows, sends the code to its parent and exits.
import { bundleLinkWorkflows } from '../worker.js';

// The parent stopped (SIGTERM during start-up): nothing to hand the bundle to.
process.on('disconnect', () => process.exit(1));
const code = await bundleLinkWorkflows();
process.send!({ code }, () => process.exit(0));
