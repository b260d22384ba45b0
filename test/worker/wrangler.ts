import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { ROOT } from '../harness/process-output.ts';

/** Keeps wrangler from calling home. */
export const QUIET = { CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' };

/** Bundles the Worker into `outdir` (worker.js) as `npm run worker:build` does, which must succeed. */
export async function wranglerBuild(outdir: string): Promise<void> {
  const { stdout } = await promisify(execFile)('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', outdir], {
    cwd: ROOT,
    env: { ...process.env, ...QUIET },
    timeout: 120_000,
  });
  expect(stdout).toContain('--dry-run: exiting now.');
}
