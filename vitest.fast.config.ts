import { defineConfig } from 'vitest/config';

// `npm run test:fast`: the tests that need no server (no global set-up): the link run's protocol decisions and the
// other pure rules. Seconds; the full suite (vitest.config.ts) is the outer ring.
export default defineConfig({
  test: {
    include: ['test/link-state.test.ts', 'test/link-delete-state.test.ts', 'test/schedule.test.ts', 'test/classify.test.ts', 'test/worker-cache.test.ts'],
  },
});
