export * from './tenants.ts';
export * from './clusters.ts';
export * from './api-keys.ts';
export * from './join-tokens.ts';
export * from './nodes.ts';
export * from './services.ts';
export * from './tasks.ts';
export * from './leases.ts';
