import { decodeLogFrames } from '../../protocol/log-frames.ts';

/**
 * Turns a stream of Docker's multiplexed log frames into the plain text of their payloads, for a
 * browser to append. A chunk may end inside a frame: the rest waits for the next chunk.
 */
export function framesToText(): TransformStream<Uint8Array, Uint8Array> {
  let pending = new Uint8Array(0);
  return new TransformStream({
    transform(chunk, out) {
      const bytes = new Uint8Array(pending.length + chunk.length);
      bytes.set(pending);
      bytes.set(chunk, pending.length);
      const whole = completeFramesLength(bytes);
      for (const frame of decodeLogFrames(bytes.subarray(0, whole))) out.enqueue(frame.payload);
      pending = bytes.slice(whole);
    },
  });
}

/** How many leading bytes hold whole frames. */
function completeFramesLength(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (bytes.length - at >= 8) {
    const next = at + 8 + view.getUint32(at + 4);
    if (next > bytes.length) break;
    at = next;
  }
  return at;
}
