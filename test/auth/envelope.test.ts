import { describe, expect, it } from 'vitest';
import { keyRingFrom, newKek, open, seal, sealedWith } from '../../control-plane/auth/envelope.ts';

/** control-plane/auth/envelope.ts: what a sealed value opens with, and what it refuses. */
const utf8 = new TextEncoder();
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe('envelope', () => {
  it('opens what it sealed, with the same context; every seal has its own IV', async () => {
    const ring = await keyRingFrom([newKek()]);
    const a = await seal(ring, utf8.encode('private'), 'signing-key:c1');
    const b = await seal(ring, utf8.encode('private'), 'signing-key:c1');
    expect(a).not.toBe(b);
    expect(a).not.toContain('private');
    expect(sealedWith(a)).toBe(ring.currentId);
    expect(text(await open(ring, a, 'signing-key:c1'))).toBe('private');
  });

  it('refuses another context (a value moved to another row or purpose), a changed byte, and a changed key id', async () => {
    const ring = await keyRingFrom([newKek()]);
    const sealed = await seal(ring, utf8.encode('private'), 'signing-key:c1');
    await expect(open(ring, sealed, 'signing-key:c2')).rejects.toThrow(/does not open/);
    await expect(open(ring, sealed, 'secret:c1')).rejects.toThrow(/does not open/);
    const parts = sealed.split('.');
    const last = parts[3]!;
    const flipped = [...parts.slice(0, 3), (last[0] === 'A' ? 'B' : 'A') + last.slice(1)].join('.');
    await expect(open(ring, flipped, 'signing-key:c1')).rejects.toThrow(/does not open/);
    await expect(open(ring, 'not an envelope', 'signing-key:c1')).rejects.toThrow(/not a sealed envelope/);
  });

  it('opens values of a previous KEK while sealing with the current one; without the old KEK it names the missing key', async () => {
    const [oldKek, newKek_] = [newKek(), newKek()];
    const before = await keyRingFrom([oldKek]);
    const sealed = await seal(before, utf8.encode('private'), 'ctx');
    const rotated = await keyRingFrom([newKek_, oldKek]);
    expect(rotated.currentId).not.toBe(before.currentId);
    expect(text(await open(rotated, sealed, 'ctx'))).toBe('private');
    expect(sealedWith(await seal(rotated, utf8.encode('x'), 'ctx'))).toBe(rotated.currentId);
    const onlyNew = await keyRingFrom([newKek_]);
    await expect(open(onlyNew, sealed, 'ctx')).rejects.toThrow(new RegExp(`sealed with key-encryption key ${before.currentId}, which is not configured`));
  });

  it('derives the same key id from the same key, in either base64 alphabet', async () => {
    const kek = newKek();
    const url = kek.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    expect((await keyRingFrom([url])).currentId).toBe((await keyRingFrom([kek])).currentId);
  });

  it('refuses a KEK that is not 32 bytes, and an empty ring', async () => {
    await expect(keyRingFrom([btoa('short')])).rejects.toThrow(/must be 32 random bytes.*got 5 bytes/);
    await expect(keyRingFrom(['!!!'])).rejects.toThrow(/must be 32 random bytes/);
    await expect(keyRingFrom([])).rejects.toThrow(/no key-encryption key configured/);
  });
});
