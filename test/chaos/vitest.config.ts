import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

/** `npm run test:chaos`: the long fault-injection runs, kept out of `npm test` (see test/vitest.config.ts). */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/chaos/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One run at a time: the runs measure a service under load and must not compete for the CPU.
    fileParallelism: false,
  },
})
