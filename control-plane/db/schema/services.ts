import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import type { PortConfig, ServiceSpec } from '../../swarm/service-spec.ts';
import { clusters } from './clusters.ts';

export interface UpdateStatus {
  State: 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed';
  StartedAt?: string;
  CompletedAt?: string;
  Message: string;
}

/** A job's iteration, as dockerd shows it: the Index rises with every update, which runs the job again. */
export interface JobStatus {
  JobIteration: { Index: number };
  LastExecution: string;
}

/** One of a service's virtual IPs, as Docker shows it. */
export interface VirtualIp {
  NetworkID: string;
  Addr: string;
}

/** A Docker service: its ServiceSpec is stored whole so a GET-edit-POST cycle loses nothing. */
export const services = sqliteTable(
  'services',
  {
    id: text().primaryKey(),
    clusterId: text()
      .notNull()
      .references(() => clusters.id, { onDelete: 'cascade' }),
    name: text().notNull(),
    spec: text({ mode: 'json' }).notNull().$type<ServiceSpec>(),
    previousSpec: text({ mode: 'json' }).$type<ServiceSpec>(),
    /** Hash of what a task is built from; a task whose hash differs is out of date. */
    specHash: text().notNull(),
    /** Published ports with the ingress ports the control plane allocated. */
    endpointPorts: text({ mode: 'json' }).notNull().$type<PortConfig[]>(),
    /**
     * Its virtual IP on each of its networks (Docker's `Endpoint.VirtualIPs`, CIDR addresses), ingress
     * among them when it publishes a port; none in dnsrr mode. Kept across updates per network.
     */
    virtualIps: text({ mode: 'json' }).notNull().default([]).$type<VirtualIp[]>(),
    updateStatus: text({ mode: 'json' }).$type<UpdateStatus>(),
    /** Set on job-mode services (ReplicatedJob, GlobalJob) only. */
    jobStatus: text({ mode: 'json' }).$type<JobStatus>(),
    version: integer().notNull(),
    createdAt: integer().notNull(),
    updatedAt: integer().notNull(),
  },
  (t) => [uniqueIndex('services_cluster_name').on(t.clusterId, t.name), index('services_cluster').on(t.clusterId)],
);
