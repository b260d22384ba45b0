import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

/**
 * Debian's Chromium, headless, with a fresh profile, trusting a control plane's cluster CA.
 *
 * The trust: Chromium on Linux takes roots from an NSS database (certutil, another package), so
 * instead the CA's public key is pinned with --ignore-certificate-errors-spki-list: a chain that
 * fails to verify is accepted only when it contains a certificate with that key, i.e. one the
 * cluster CA issued. Any other certificate error still fails the page (no ignoreHTTPSErrors).
 */
export async function launchChromium(caPem: string): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'swarmlet-chromium-'));
  // Playwright passes the profile as --user-data-dir itself (it refuses the flag in args).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--ignore-certificate-errors-spki-list=${spkiDigest(caPem)}`,
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** base64(SHA-256(SubjectPublicKeyInfo)), the form Chromium's SPKI list takes. */
export function spkiDigest(pem: string): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}
