/**
 * Shared helpers of the PostgreSQL tests: a pool on the database the global setup created for this
 * run, and fresh table names, so that test files running side by side never share a table.
 */
import pg from 'pg';
import { inject } from 'vitest';
import { uniqueName } from '../../src/testing/index.js';

export const postgresUrl: string = inject('postgresUrl');

/** A new pool on the run's database. */
export function connectPool(max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: postgresUrl, max });
  // An idle client's error (the server ended it) would otherwise crash the test process.
  pool.on('error', () => undefined);
  return pool;
}

/** A table name no other test uses: letters, digits and `_`. */
export function tableName(label = 't'): string {
  return uniqueName(label).replace(/-/g, '_');
}

export { sleep, waitFor } from '../helpers/index.js';
