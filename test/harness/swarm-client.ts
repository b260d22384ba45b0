import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlaneProcess } from './control-plane-process.ts';

/** A Docker API error answer, kept whole so tests can check the status and the message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`HTTP ${status}: ${body}`);
  }
}

/**
 * The Docker API of a started control plane over real HTTP, as a script would call it with the API
 * key from the DOCKER_CONFIG the control plane wrote.
 */
export class SwarmClient {
  constructor(
    readonly url: string,
    readonly apiKey: string,
  ) {}

  static forProcess(cp: ControlPlaneProcess): SwarmClient {
    const config = JSON.parse(readFileSync(join(cp.dockerEnv.DOCKER_CONFIG, 'config.json'), 'utf8'));
    const key = String(config.HttpHeaders.Authorization).replace(/^Bearer\s+/, '');
    return new SwarmClient(cp.url, key);
  }

  async request<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/v1.41${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.apiKey}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new HttpError(res.status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** `docker swarm init`, if not done yet. */
  async init(): Promise<void> {
    try {
      await this.request('POST', '/swarm/init', { ListenAddr: '0.0.0.0:2377' });
    } catch (err) {
      if (!(err instanceof HttpError && err.status === 503)) throw err;
    }
  }

  async workerToken(): Promise<string> {
    return (await this.request('GET', '/swarm')).JoinTokens.Worker;
  }

  async singleUseToken(): Promise<string> {
    return (await this.request('POST', '/swarmlet/v1/join-tokens', { singleUse: true })).token;
  }

  async rotateWorkerToken(): Promise<void> {
    const swarm = await this.request('GET', '/swarm');
    await this.request('POST', `/swarm/update?version=${swarm.Version.Index}&rotateWorkerToken=true`, swarm.Spec);
  }

  async createService(spec: Record<string, unknown>): Promise<string> {
    return (await this.request('POST', '/services/create', spec)).ID;
  }

  async service(ref: string): Promise<any> {
    return this.request('GET', `/services/${ref}`);
  }

  /** GET-edit-POST, as `docker service update` does. */
  async updateService(ref: string, edit: (spec: any) => void): Promise<void> {
    await this.editSpec('services', ref, edit);
  }

  async scale(ref: string, replicas: number): Promise<void> {
    await this.updateService(ref, (spec) => (spec.Mode = { Replicated: { Replicas: replicas } }));
  }

  async removeService(ref: string): Promise<void> {
    await this.request('DELETE', `/services/${ref}`);
  }

  async tasks(serviceId?: string): Promise<any[]> {
    const filters = serviceId ? `?filters=${encodeURIComponent(JSON.stringify({ service: [serviceId] }))}` : '';
    return this.request('GET', `/tasks${filters}`);
  }

  /** The tasks the control plane still wants running (docker service ps without history). */
  async liveTasks(serviceId: string): Promise<any[]> {
    return (await this.tasks(serviceId)).filter((t) => t.DesiredState === 'running');
  }

  async node(ref: string): Promise<any> {
    return this.request('GET', `/nodes/${ref}`);
  }

  /** GET-edit-POST, as `docker node update` does. */
  async updateNode(ref: string, edit: (spec: any) => void): Promise<void> {
    await this.editSpec('nodes', ref, edit);
  }

  async removeNode(ref: string, force = false): Promise<void> {
    await this.request('DELETE', `/nodes/${ref}${force ? '?force=true' : ''}`);
  }

  /** Reads the object, lets `edit` change its Spec and posts that back at the version read. */
  private async editSpec(kind: 'services' | 'nodes', ref: string, edit: (spec: any) => void): Promise<void> {
    const o = await this.request('GET', `/${kind}/${ref}`);
    edit(o.Spec);
    await this.request('POST', `/${kind}/${o.ID}/update?version=${o.Version.Index}`, o.Spec);
  }
}

/** Docker's ServiceSpec as `docker service create` posts it, with the parts a test changes. */
export function serviceSpec(
  name: string,
  opts: {
    replicas?: number;
    global?: boolean;
    constraints?: string[];
    reservations?: { NanoCPUs?: number; MemoryBytes?: number };
    maxReplicas?: number;
    hostPorts?: number[];
    restart?: Record<string, unknown>;
  } = {},
): Record<string, unknown> {
  return {
    Name: name,
    Labels: { 'swarmlet.test': 'orchestrator' },
    TaskTemplate: {
      ContainerSpec: { Image: 'local/busybox:1', Args: ['httpd', '-f', '-p', '80'] },
      Resources: { Limits: {}, Reservations: opts.reservations ?? {} },
      Placement: {
        ...(opts.constraints ? { Constraints: opts.constraints } : {}),
        ...(opts.maxReplicas ? { MaxReplicas: opts.maxReplicas } : {}),
      },
      ...(opts.restart ? { RestartPolicy: opts.restart } : {}),
    },
    Mode: opts.global ? { Global: {} } : { Replicated: { Replicas: opts.replicas ?? 1 } },
    EndpointSpec: {
      Mode: 'vip',
      ...(opts.hostPorts ? { Ports: opts.hostPorts.map((p) => ({ Protocol: 'tcp', TargetPort: 80, PublishedPort: p, PublishMode: 'host' })) } : {}),
    },
  };
}
