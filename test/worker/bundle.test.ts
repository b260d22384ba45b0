import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { wranglerBuild } from './wrangler.ts';

const outdir = mkdtempSync(join(tmpdir(), 'swarmlet-worker-'));

describe('Cloudflare Worker build', () => {
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('bundles the same Hono app with wrangler, without Node-only storage', async () => {
    await wranglerBuild(outdir);
    const bundle = readFileSync(join(outdir, 'worker.js'), 'utf8');
    // The Docker API and the agent API are in the bundle...
    expect(bundle).toContain('This node is not a swarm manager');
    expect(bundle).toContain('/assignments');
    // ...and storage goes through libSQL's HTTP client, never the native file driver.
    expect(bundle).not.toMatch(/@libsql\/linux|libsql\.node|from ["']node:fs["']/);
  }, 150_000);
});
