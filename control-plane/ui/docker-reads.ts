/**
 * What the dashboard shows, read through the Docker API itself (in process, under the signed-in
 * key): the same cluster scoping, filters, views and fair-share limits as `docker service ls`,
 * and no second copy of their queries.
 */
import type { toDockerNode, toDockerService, toDockerTask } from '../docker-api/views.ts';
import { ApiError } from '../errors.ts';
import type { ServiceSpec } from '../swarm/service-spec.ts';

export type DockerNode = ReturnType<typeof toDockerNode> & { ManagerStatus?: { Leader: boolean } };
export type DockerService = Omit<ReturnType<typeof toDockerService>, 'Spec'> & { Spec: ServiceSpec };
export type DockerTask = ReturnType<typeof toDockerTask>;
export interface DockerEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  time: number;
  timeNano: number;
}

/** Serves one request of the whole app: how the dashboard reaches the Docker API's routes. */
export type AppFetch = (request: Request) => Promise<Response>;

export class DockerReads {
  constructor(
    private readonly fetchApp: AppFetch,
    private readonly apiKey: string,
    private readonly signal?: AbortSignal,
  ) {}

  /** A Docker API GET; its refusal (404, 429, ...) becomes the same ApiError. */
  async get(path: string): Promise<Response> {
    const res = await this.fetchApp(new Request(`http://in-process/v1.41${path}`, { headers: { Authorization: `Bearer ${this.apiKey}` }, signal: this.signal }));
    if (res.ok) return res;
    const body = (await res.json().catch(() => ({}))) as { message?: string };
    const code = res.status === 404 ? 'not_found' : res.status === 429 ? 'rate_limited' : res.status === 401 ? 'unauthorized' : res.status >= 500 ? 'unavailable' : 'invalid';
    throw new ApiError(code, body.message ?? `the Docker API answered ${res.status}`, Number(res.headers.get('retry-after')) || undefined);
  }

  private async json<T>(path: string): Promise<T> {
    return (await (await this.get(path)).json()) as T;
  }

  nodes = () => this.json<DockerNode[]>('/nodes');
  services = () => this.json<DockerService[]>('/services?status=true');
  service = (ref: string) => this.json<DockerService>(`/services/${encodeURIComponent(ref)}`);
  tasks = (serviceId?: string) =>
    this.json<DockerTask[]>(serviceId ? `/tasks?filters=${encodeURIComponent(JSON.stringify({ service: { [serviceId]: true } }))}` : '/tasks');

  /** The events of the last `sinceMs` up to now: a finite answer, newest first. */
  async recentEvents(now: number, sinceMs: number): Promise<DockerEvent[]> {
    const text = await (await this.get(`/events?since=${Math.floor((now - sinceMs) / 1000)}&until=${Math.ceil(now / 1000)}`)).text();
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as DockerEvent)
      .reverse();
  }

  /** The service's logs, following: Docker's multiplexed frames, as `docker service logs -f` gets them. */
  followLogs = (serviceId: string) => this.get(`/services/${encodeURIComponent(serviceId)}/logs?follow=1&stdout=1&stderr=1&tail=200`);
}
