// Shared by the bins: runs the TypeScript CLI directly through tsx (no build step between a clone and `npm start`).
import { register } from 'tsx/esm/api';

/** Runs `extauth <argv…>` and exits with its code. */
export async function runExtauth(argv) {
  register();
  const { run } = await import('../cli/main.ts');
  // Exit explicitly: open connections (gRPC retries, pools) must not keep a finished command alive.
  process.exit(await run(argv));
}
