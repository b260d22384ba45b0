/**
 * The wire format of log batches, shared by swarm-agent and the control plane: Docker's stdcopy
 * frames, each agent payload prefixed "<taskId> <timestamp> ". Pure: no runtime, no database.
 */
import { ProtocolError } from './errors.ts';

export const STDOUT = 1;
export const STDERR = 2;

export interface LogFrame {
  stream: number;
  payload: Uint8Array;
}

/** Docker's stdcopy framing: [stream, 0, 0, 0, length uint32 BE] then the payload. */
export function encodeLogFrame(stream: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(8 + payload.length);
  frame[0] = stream;
  new DataView(frame.buffer).setUint32(4, payload.length);
  frame.set(payload, 8);
  return frame;
}

export function decodeLogFrames(bytes: Uint8Array): LogFrame[] {
  const frames: LogFrame[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at < bytes.length) {
    if (bytes.length - at < 8) throw new ProtocolError(`malformed log frame at byte ${at}: a header needs 8 bytes, ${bytes.length - at} left`);
    const stream = bytes[at]!;
    if ((stream !== STDOUT && stream !== STDERR) || bytes[at + 1] || bytes[at + 2] || bytes[at + 3]) {
      throw new ProtocolError(`malformed log frame at byte ${at}: expected [1|2, 0, 0, 0, length]`);
    }
    const length = view.getUint32(at + 4);
    if (at + 8 + length > bytes.length) throw new ProtocolError(`malformed log frame at byte ${at}: length ${length} runs past the body`);
    frames.push({ stream, payload: bytes.subarray(at + 8, at + 8 + length) });
    at += 8 + length;
  }
  return frames;
}

const SPACE = 0x20;
const text = new TextDecoder();

/** An agent frame's payload, `<taskId> <timestamp> <line>`, taken apart. */
export function splitAgentPayload(payload: Uint8Array): { taskId: string; timestamp: string; line: Uint8Array } {
  const first = payload.indexOf(SPACE);
  if (first <= 0) throw new ProtocolError('malformed log frame: the payload must start with "<taskId> <timestamp> "');
  const second = payload.indexOf(SPACE, first + 1);
  const end = second < 0 ? payload.length : second;
  return {
    taskId: text.decode(payload.subarray(0, first)),
    timestamp: text.decode(payload.subarray(first + 1, end)),
    line: second < 0 ? new Uint8Array(0) : payload.subarray(second + 1),
  };
}
