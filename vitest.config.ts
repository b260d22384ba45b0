import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // End-to-end files share one Docker engine and the docker CLI; run files one at a time.
    fileParallelism: false,
    pool: 'forks',
  },
});
