#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: no build step between a clone and `npm start`.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../client/cli.ts');
// Exit explicitly: open connections (gRPC retries, pools) must not keep a finished command alive.
process.exit(await run(process.argv.slice(2)));
