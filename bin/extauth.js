#!/usr/bin/env node
import { runExtauth } from './run.js';

await runExtauth(process.argv.slice(2));
