import type Dockerode from 'dockerode';
import { Backoff, sleep } from '../backoff.ts';
import type { Logger } from '../../protocol/log.ts';
import { NODE_LABEL, TASK_LABEL } from './labels.ts';

const ACTIONS = ['create', 'start', 'die', 'oom', 'destroy', 'health_status', 'stop', 'kill'];

/**
 * Follows the engine's event stream for this node's task containers, and reconnects with backoff
 * when the engine goes away (a dockerd restart). After every reconnect `onReconnect` runs, since
 * events sent while the stream was down are lost.
 */
export class ContainerEvents {
  private readonly abort = new AbortController();
  private readonly backoff = new Backoff(250, 10_000);

  constructor(
    private readonly docker: Dockerode,
    private readonly nodeId: string,
    private readonly log: Logger,
    private readonly onEvent: (taskId: string, action: string) => void,
    private readonly onReconnect: () => void,
  ) {}

  start() {
    void this.follow();
  }

  stop() {
    this.abort.abort();
  }

  private async follow() {
    let connectedBefore = false;
    while (!this.abort.signal.aborted) {
      try {
        const stream = (await this.docker.getEvents({
          filters: { type: ['container'], event: ACTIONS, label: [`${NODE_LABEL}=${this.nodeId}`] },
          abortSignal: this.abort.signal,
        } as Dockerode.GetEventsOptions)) as NodeJS.ReadableStream;
        if (connectedBefore) {
          this.log.info('docker events stream reconnected');
          this.onReconnect();
        }
        connectedBefore = true;
        this.backoff.reset();
        await this.read(stream);
        if (!this.abort.signal.aborted) this.log.warn('docker events stream ended; reconnecting');
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.log.warn('docker events stream failed; reconnecting', { error: err, failures: this.backoff.failures + 1 });
        connectedBefore = true;
      }
      await sleep(this.backoff.next(), this.abort.signal);
    }
  }

  private read(stream: NodeJS.ReadableStream): Promise<void> {
    return new Promise((resolve) => {
      let buffered = '';
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (!line) continue;
          try {
            const event = JSON.parse(line) as { Action?: string; Actor?: { Attributes?: Record<string, string> } };
            const taskId = event.Actor?.Attributes?.[TASK_LABEL];
            if (taskId) this.onEvent(taskId, (event.Action ?? '').split(':')[0]!);
          } catch {
            // a partial or foreign line: the resync catches whatever it meant
          }
        }
      });
      stream.on('end', () => resolve());
      stream.on('close', () => resolve());
      stream.on('error', () => resolve());
    });
  }
}
