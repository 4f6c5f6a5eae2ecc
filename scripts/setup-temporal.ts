// `npm run setup:temporal`: finds or installs the Temporal CLI (see dev/temporal.ts for the order) and says where.
import { resolveTemporalCli } from '../dev/temporal.js';

const path = await resolveTemporalCli((msg) => console.error(msg));
if (!path) {
  console.error('extauth: no Temporal CLI available; set TEMPORAL_CLI_PATH or put `temporal` on PATH');
  process.exit(1);
}
console.log(`temporal CLI: ${path}`);
