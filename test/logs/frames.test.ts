import { describe, expect, it } from 'vitest';
import { EngineLogDecoder } from '../../agent/logs.ts';
import { decodeLogFrames, encodeLogFrame, splitAgentPayload } from '../../protocol/log-frames.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (frames: Uint8Array[]) =>
  frames.flatMap((f) => decodeLogFrames(f)).map((f) => `${f.stream}:${dec.decode(f.payload)}`);

describe('agent log frames', () => {
  it('prefixes each engine frame with its task, across chunk boundaries', () => {
    const engine = new Uint8Array([
      ...encodeLogFrame(1, enc.encode('2026-11-25T12:00:00.000000001Z out 0\n')),
      ...encodeLogFrame(2, enc.encode('2026-11-25T12:00:00.000000002Z err 0\n')),
    ]);
    const d = new EngineLogDecoder('task1', false);
    // Cut inside the first header and inside the second payload.
    const frames = [...d.push(engine.subarray(0, 5)), ...d.push(engine.subarray(5, 60)), ...d.push(engine.subarray(60))];
    expect(text(frames)).toEqual(['1:task1 2026-11-25T12:00:00.000000001Z out 0\n', '2:task1 2026-11-25T12:00:00.000000002Z err 0\n']);
    expect(d.end()).toEqual([]);
  });

  it('splits a TTY container log into stdout lines and keeps a last line without newline', () => {
    const d = new EngineLogDecoder('t', true);
    const frames = [...d.push(enc.encode('ts1 a\nts2 b')), ...d.push(enc.encode('c\nts3 d')), ...d.end()];
    expect(text(frames)).toEqual(['1:t ts1 a\n', '1:t ts2 bc\n', '1:t ts3 d']);
  });

  it('frames as dockerd does: [stream, 0, 0, 0, length BE]', () => {
    expect([...encodeLogFrame(2, enc.encode('hi'))]).toEqual([2, 0, 0, 0, 0, 0, 0, 2, 104, 105]);
    expect([...encodeLogFrame(1, new Uint8Array(300)).subarray(0, 8)]).toEqual([1, 0, 0, 0, 0, 0, 1, 44]);
  });
});

describe('control plane log frames', () => {
  it('takes an agent payload apart', () => {
    const { taskId, timestamp, line } = splitAgentPayload(enc.encode('abc 2026-11-25T12:00:00Z hello world\n'));
    expect([taskId, timestamp, dec.decode(line)]).toEqual(['abc', '2026-11-25T12:00:00Z', 'hello world\n']);
  });

  it('refuses malformed bodies with the byte where it went wrong', () => {
    expect(() => decodeLogFrames(new Uint8Array([1, 0, 0]))).toThrow(/at byte 0: a header needs 8 bytes/);
    expect(() => decodeLogFrames(new Uint8Array([3, 0, 0, 0, 0, 0, 0, 0]))).toThrow(/expected \[1\|2, 0, 0, 0, length\]/);
    expect(() => decodeLogFrames(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 9, 65]))).toThrow(/length 9 runs past the body/);
    expect(() => splitAgentPayload(enc.encode('nospace'))).toThrow(/must start with/);
  });
});
