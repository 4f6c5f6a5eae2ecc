#!/usr/bin/env node
// git runs `credential.helper "extauth …"` as `git credential-extauth … <action>`, found as this bin on PATH:
// the same as `extauth git-credential … <action>`, so both "extauth git-credential --user U" and "extauth --user U" work.
import { runExtauth } from './run.js';

const args = process.argv.slice(2);
await runExtauth(args[0] === 'git-credential' ? args : ['git-credential', ...args]);
