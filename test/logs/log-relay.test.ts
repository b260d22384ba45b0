import { randomUUID } from 'node:crypto';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../protocol/log.ts';
import { LogRelay } from '../../agent/logs.ts';
import type { LogRequest } from '../../protocol/agent-api.ts';
import { decodeLogFrames, splitAgentPayload } from '../../protocol/log-frames.ts';

/** The agent's LogRelay on the real engine, posting to a recorder instead of a control plane. */
const docker = new Dockerode({ socketPath: '/var/run/docker.sock' });
const RUN = randomUUID().slice(0, 8);
const LABELS = { 'swarmlet.test': 'logs', 'swarmlet.test.run': RUN };

const silentLog: Logger = { info() {}, warn() {}, error() {}, debug() {} };
const dec = new TextDecoder();

interface Post {
  path: string;
  lines: Array<{ stream: number; taskId: string; timestamp: string; line: string }>;
}

/** Records what the relay posts; `status` makes the next posts fail with that HTTP status. */
function recorder() {
  const posts: Post[] = [];
  const state = { status: 0 };
  const post = async (path: string, body: AsyncIterable<Uint8Array>) => {
    const parts: Uint8Array[] = [];
    for await (const p of body) parts.push(p);
    const bytes = new Uint8Array(Buffer.concat(parts));
    if (state.status) throw Object.assign(new Error(`HTTP ${state.status}`), { status: state.status });
    posts.push({
      path,
      lines: decodeLogFrames(bytes).map((f) => {
        const { taskId, timestamp, line } = splitAgentPayload(f.payload);
        return { stream: f.stream, taskId, timestamp, line: dec.decode(line) };
      }),
    });
  };
  return { posts, post, state, lines: () => posts.flatMap((p) => p.lines) };
}

async function until(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startTask(script: string, tty = false): Promise<string> {
  const taskId = `t${RUN}${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const c = await docker.createContainer({
    Image: 'local/busybox:1',
    Cmd: ['sh', '-c', script],
    Tty: tty,
    Labels: { ...LABELS, 'swarmlet.task.id': taskId, 'swarmlet.node.id': 'n1' },
    HostConfig: { Init: true },
  });
  await c.start();
  return taskId;
}

const request = (taskIds: string[], extra: Partial<LogRequest> = {}): LogRequest => ({
  id: `req-${randomUUID().slice(0, 8)}`,
  taskIds,
  follow: false,
  tail: 'all',
  timestamps: false,
  ...extra,
});

let printer: string; // prints 5 lines to stdout and 5 to stderr, then stays
let ticker: string; // prints a line every 200 ms
let tty: string;

beforeAll(async () => {
  printer = await startTask('for i in 0 1 2 3 4; do echo "out $i"; echo "err $i" >&2; done; sleep 300');
  ticker = await startTask('i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done');
  tty = await startTask('echo "on a tty"; sleep 300', true);
  await new Promise((r) => setTimeout(r, 1000));
}, 60_000);

afterAll(async () => {
  const mine = await docker.listContainers({ all: true, filters: { label: [`swarmlet.test.run=${RUN}`] } });
  await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
});

describe('LogRelay on the real engine', () => {
  it('posts every line of each task with its stream and timestamp, then done', async () => {
    const rec = recorder();
    const relay = new LogRelay({ docker, nodeId: 'n1', log: silentLog, post: rec.post });
    const req = request([printer, tty, 'task-without-container']);
    relay.handle([req]);
    await until(() => rec.posts.some((p) => p.path.endsWith('?done=1')), 10_000, 'done post');
    expect(rec.posts.at(-1)!.path).toBe(`/agent/v1/logs/${req.id}?done=1`);
    expect(rec.posts.slice(0, -1).every((p) => p.path === `/agent/v1/logs/${req.id}`)).toBe(true);
    const lines = rec.lines();
    const printed = lines.filter((l) => l.taskId === printer);
    expect(printed.filter((l) => l.stream === 1).map((l) => l.line)).toEqual(['out 0\n', 'out 1\n', 'out 2\n', 'out 3\n', 'out 4\n']);
    expect(printed.filter((l) => l.stream === 2).map((l) => l.line)).toEqual(['err 0\n', 'err 1\n', 'err 2\n', 'err 3\n', 'err 4\n']);
    expect(printed.every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/.test(l.timestamp))).toBe(true);
    // A TTY's output has no streams: it is stdout, with the terminal's line ending.
    expect(lines.filter((l) => l.taskId === tty)).toEqual([expect.objectContaining({ stream: 1, line: 'on a tty\r\n' })]);
    // Handling the same list again serves nothing twice.
    const count = rec.posts.length;
    relay.handle([req]);
    await new Promise((r) => setTimeout(r, 300));
    expect(rec.posts.length).toBe(count);
    relay.close();
  });

  it('takes the last lines per task with tail', async () => {
    const all = recorder();
    const rec = recorder();
    const relay = new LogRelay({ docker, nodeId: 'n1', log: silentLog, post: all.post });
    const tailed = new LogRelay({ docker, nodeId: 'n1', log: silentLog, post: rec.post });
    relay.handle([request([printer])]);
    tailed.handle([request([printer], { tail: 2 })]);
    await until(() => [all, rec].every((r) => r.posts.some((p) => p.path.endsWith('?done=1'))), 10_000, 'done posts');
    // The engine keeps stdout and stderr in one log; tail counts lines of both.
    expect(all.lines()).toHaveLength(10);
    expect(rec.lines()).toEqual(all.lines().slice(-2));
    relay.close();
    tailed.close();
  });

  it('follows new lines until the request is no longer listed', async () => {
    const rec = recorder();
    const relay = new LogRelay({ docker, nodeId: 'n1', log: silentLog, post: rec.post });
    const req = request([ticker], { follow: true, tail: 1 });
    relay.handle([req]);
    await until(() => rec.lines().length >= 4, 10_000, '4 lines followed');
    const ticks = rec.lines().map((l) => Number(l.line.split(' ')[1]));
    // Consecutive lines: the tail line, then each new one as it is written.
    expect(ticks.slice(1)).toEqual(ticks.slice(1).map((_, i) => ticks[0]! + i + 1));
    expect(relay.active).toEqual([req.id]);

    relay.handle([]); // the client went away
    expect(relay.active).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    const seen = rec.lines().length;
    await new Promise((r) => setTimeout(r, 800));
    expect(rec.lines().length).toBe(seen);
    expect(rec.posts.some((p) => p.path.endsWith('?done=1'))).toBe(false);
    relay.close();
  });

  it('stops following when the control plane answers 410 Gone', async () => {
    const rec = recorder();
    const relay = new LogRelay({ docker, nodeId: 'n1', log: silentLog, post: rec.post });
    relay.handle([request([ticker], { follow: true, tail: 0 })]);
    await until(() => rec.lines().length >= 1, 10_000, 'a followed line');
    rec.state.status = 410;
    await until(() => relay.active.length === 0, 5_000, 'relay stopped after 410');
    relay.close();
  });
});
