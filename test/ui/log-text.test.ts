import { describe, expect, it } from 'vitest';
import { encodeLogFrame, STDERR, STDOUT } from '../../protocol/log-frames.ts';
import { framesToText } from '../../control-plane/ui/log-text.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

async function through(chunks: Uint8Array[]): Promise<string> {
  const out = new Response(new ReadableStream({ start(c) { for (const chunk of chunks) c.enqueue(chunk); c.close(); } }).pipeThrough(framesToText()));
  return out.text();
}

describe('framesToText', () => {
  it('gives the payloads of stdout and stderr frames in order', async () => {
    expect(await through([encodeLogFrame(STDOUT, bytes('one\n')), encodeLogFrame(STDERR, bytes('two\n'))])).toBe('one\ntwo\n');
  });

  it('holds a frame split across chunks (in its header or its payload) until it is whole', async () => {
    const whole = new Uint8Array([...encodeLogFrame(STDOUT, bytes('first line\n')), ...encodeLogFrame(STDOUT, bytes('second\n'))]);
    for (const cut of [3, 8, 12, 19, 23]) {
      expect(await through([whole.slice(0, cut), whole.slice(cut)])).toBe('first line\nsecond\n');
    }
  });
});
