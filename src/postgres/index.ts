/**
 * `exclusive-consumer/postgres`: PostgreSQL adapters. `pg` is never imported at run time: pass a
 * `Pool` you built (or a `Client`, or a `PoolClient` inside your own transaction).
 *
 * @module exclusive-consumer/postgres
 */
export type { PgPoolLike, PgResultLike } from './client.js';
export { createPostgresTables, postgresDdl } from './schema.js';
export type { PostgresDdlOptions, PostgresOutboxTableOptions, PostgresTableOptions } from './schema.js';
export { PostgresFencedStore, postgresFencedStore } from './fenced-store.js';
export type { PostgresFencedStoreOptions } from './fenced-store.js';
export { PostgresOutbox, postgresOutbox } from './outbox.js';
export type { PostgresOutboxOptions } from './outbox.js';
