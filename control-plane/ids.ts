const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** Docker-shaped ID: 25 lowercase base-36 characters, so the CLI's truncation and prefix lookup work. */
export function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(25));
  let id = '';
  for (const b of bytes) id += ALPHABET[b % 36];
  return id;
}

/** A random secret, base64url, for API keys. */
export function newSecret(bytes = 32): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...raw)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
