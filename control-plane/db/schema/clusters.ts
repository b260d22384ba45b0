import { integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { tenants } from './tenants.ts';

/** Docker's SwarmSpec, stored whole; the fields the control plane acts on are typed. */
export interface SwarmSpec {
  Name?: string;
  Labels?: Record<string, string>;
  Orchestration?: { TaskHistoryRetentionLimit?: number };
  [field: string]: unknown;
}

/** Where overlay networks take their subnets, and the mesh's UDP port: `docker swarm init`'s network options. */
export interface DataPathSettings {
  DefaultAddrPool: string[];
  SubnetSize: number;
  DataPathPort: number;
}

export const DEFAULT_DATA_PATH: DataPathSettings = { DefaultAddrPool: ['10.0.0.0/8'], SubnetSize: 24, DataPathPort: 51820 };

/**
 * A swarm. `changeIndex` is the cluster-wide monotonic index (Docker's Version.Index); every
 * committed change bumps it once. `version` is the index of the swarm object's own last change.
 */
export const clusters = sqliteTable(
  'clusters',
  {
    id: text().primaryKey(),
    tenantId: text()
      .notNull()
      .references(() => tenants.id),
    name: text().notNull(),
    /** ID the control plane shows as its manager node in `docker node ls`. */
    managerNodeId: text().notNull(),
    /** Docker SwarmSpec, stored whole. */
    spec: text({ mode: 'json' }).notNull().$type<SwarmSpec>(),
    /** Set by `docker swarm init`; until then the swarm endpoints answer "not a swarm manager". */
    initializedAt: integer(),
    dataPath: text({ mode: 'json' }).notNull().$type<DataPathSettings>().default(DEFAULT_DATA_PATH),
    /** URL agents use to reach the control plane; carried in join tokens. */
    advertiseUrl: text(),
    /** Ed25519 key pair (JWK) that signs this cluster's join tokens and node credentials; the private half sealed. */
    signingKey: text({ mode: 'json' }).notNull().$type<StoredSigningKey>(),
    /** The AES key that seals this cluster's secrets, itself sealed with the KEK; made with the first secret. */
    sealedDataKey: text(),
    changeIndex: integer().notNull().default(1),
    /** Index of the last change to the cluster's published ingress ports (every node's routing mesh). */
    ingressIndex: integer().notNull().default(0),
    /** Index of the last change to the mesh (a node's liveness or key, a task address given or freed): every node's peers. */
    meshIndex: integer().notNull().default(0),
    version: integer().notNull().default(1),
    createdAt: integer().notNull(),
    updatedAt: integer().notNull(),
  },
  (t) => [uniqueIndex('clusters_tenant_name').on(t.tenantId, t.name)],
);

export type JsonWebKeyLike = Record<string, string | undefined>;

/**
 * A cluster's key pair at rest: the private JWK sealed with the key-encryption key (auth/envelope.ts).
 * `privateJwk` is the plain-text form written before keys were sealed; start seals such rows.
 */
export interface StoredSigningKey {
  publicJwk: JsonWebKeyLike;
  sealedPrivateJwk?: string;
  privateJwk?: JsonWebKeyLike;
}
