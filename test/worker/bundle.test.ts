import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const outdir = mkdtempSync(join(tmpdir(), 'swarmlet-worker-'));

describe('Cloudflare Worker build', () => {
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('bundles the same Hono app with wrangler, without Node-only storage', async () => {
    const { stdout } = await promisify(execFile)('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', outdir], {
      cwd: ROOT,
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false' },
      timeout: 120_000,
    });
    expect(stdout).toContain('--dry-run: exiting now.');
    const bundle = readFileSync(join(outdir, 'worker.js'), 'utf8');
    // The Docker API and the agent API are in the bundle...
    expect(bundle).toContain('This node is not a swarm manager');
    expect(bundle).toContain('/assignments');
    // ...and storage goes through libSQL's HTTP client, never the native file driver.
    expect(bundle).not.toMatch(/@libsql\/linux|libsql\.node|from ["']node:fs["']/);
  }, 150_000);
});
