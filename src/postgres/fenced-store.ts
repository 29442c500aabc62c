import { StaleTokenError } from '../errors/stale-token-error.js';
import { TransportError } from '../errors/transport-error.js';
import { VersionConflictError } from '../errors/version-conflict-error.js';
import { checkFenceToken, checkIfVersion, checkKey, isStale } from '../fencing/check.js';
import type { Fence, FencedRecord, FencedStore, PutOptions, TokenCounter } from '../fencing/types.js';
import { serializedText, valueCodec } from '../internal/json.js';
import { adapterOption, optionNames, optionsArgument } from '../internal/validate.js';
import { checkPool, integerColumn, run, textColumn, type PgPoolLike } from './client.js';
import { resolveTables, type PostgresDdlOptions, type PostgresTableOptions, type ResolvedTables } from './schema.js';

/** The store's options and the DDL's, so that one tables object serves `createPostgresTables` and the store. */
const OPTION_NAMES = optionNames<PostgresFencedStoreOptions<unknown> & PostgresDdlOptions>({
  schema: true,
  table: true,
  valueType: true,
  outboxTable: true,
  outbox: true,
  serialize: true,
  deserialize: true,
  tokenCounter: true,
});

/** Options of {@link postgresFencedStore}. */
export interface PostgresFencedStoreOptions<V> extends PostgresTableOptions {
  /**
   * Turns a value into the text stored in the `value` column (JSON for a `jsonb` column).
   * @default JSON.stringify (a value it cannot encode, such as `undefined`, rejects with a `TypeError`)
   */
  readonly serialize?: (value: V) => string;
  /** Turns stored text back into a value. @default JSON.parse */
  readonly deserialize?: (text: string) => V;
  /**
   * The counter the tokens come from, raised after each rejected write to the highest token the
   * table holds for the key, so that a counter that went back (a Redis restarted without
   * persistence, an evicted key) cannot hand out tokens this table has already seen. Pass the
   * lock or token source the consumers use, e.g. `redisLock(redis)`. The raise is one extra round
   * trip after a rejection only; a failure to raise is swallowed (the write was rejected either way,
   * and the next rejection raises it again).
   * @default none: tokens from a source that cannot go back (e.g. a PostgreSQL sequence)
   */
  readonly tokenCounter?: TokenCounter;
}

/** @internal The statements of the state table, shared by the fenced store and the outbox. */
export interface StateStatements {
  /** `$1` key. Columns: value (text), token, owner, version. */
  readonly get: string;
  /** `$1` key. Columns: token, owner, version. */
  readonly current: string;
}

/** @internal The read statements of the state table. */
export function stateStatements(t: ResolvedTables): StateStatements {
  return {
    get: `SELECT value::text AS value, token, owner, version FROM ${t.state} WHERE key = $1`,
    current: `SELECT token, owner, version FROM ${t.state} WHERE key = $1`,
  };
}

/**
 * @internal The fenced write as one statement: `$1` key, `$2` value text, `$3` token, `$4` owner,
 * `$5` expected version or NULL. Returns the new version, or no row when the write was rejected.
 *
 * A missing row is inserted only when no version is expected, or 0 is; an existing one (found by
 * the conflict on `key`, under its row lock, so its latest committed version) is updated only when
 * the fence holds (`token < $3`, or equal from the same owner) and the version matches. PostgreSQL
 * evaluates this `WHERE` on the locked row, so no other write comes between the check and the write.
 */
export function upsertStateSql(t: ResolvedTables): string {
  return `INSERT INTO ${t.state} AS r (key, value, token, owner, version)
SELECT $1::text, $2::${t.valueType}, $3::bigint, $4::text, 1
WHERE $5::bigint IS NULL OR $5::bigint = 0 OR EXISTS (SELECT 1 FROM ${t.state} WHERE key = $1::text)
ON CONFLICT (key) DO UPDATE
SET value = EXCLUDED.value, token = EXCLUDED.token, owner = EXCLUDED.owner, version = r.version + 1
WHERE (r.token < EXCLUDED.token OR (r.token = EXCLUDED.token AND r.owner = EXCLUDED.owner))
  AND ($5::bigint IS NULL OR r.version = $5::bigint)
RETURNING r.version`;
}

/**
 * @internal Why a fenced write on the state table was rejected, read right after it: its own
 * statement, so it sees at least the row that rejected the write. Tokens never go down, so a write
 * that was stale is still stale here; the error carries the highest token now recorded. Raises
 * `tokenCounter` after a stale rejection, swallowing its failure.
 */
export async function rejection(
  pool: PgPoolLike,
  statements: StateStatements,
  key: string,
  fence: Fence,
  ifVersion: number | undefined,
  tokenCounter: TokenCounter | undefined,
): Promise<StaleTokenError | VersionConflictError | TransportError> {
  const { rows } = await run(pool, 'read after rejection', statements.current, [key], { key });
  const row = rows[0];
  const current =
    row === undefined
      ? undefined
      : { token: integerColumn(row.token, 'token'), owner: textColumn(row.owner, 'owner'), version: integerColumn(row.version, 'version') };
  if (current !== undefined && isStale(fence, current)) {
    if (tokenCounter !== undefined) {
      try {
        await tokenCounter.raise(key, current.token);
      } catch {
        // Best effort: the write is rejected either way, and the next rejection raises it again.
      }
    }
    return new StaleTokenError(key, fence.token, current.token, fence.owner);
  }
  if (ifVersion !== undefined) return new VersionConflictError(key, ifVersion, current?.version ?? 0);
  // Unreachable while only fenced writers touch the table: without `ifVersion` only the fence rejects.
  return new TransportError('PostgreSQL rejected a fenced write that its row allows; the table was changed outside the store', {
    retriable: true,
    context: { store: 'postgres', operation: 'put', key },
  });
}

/** @internal The record a state row holds. */
export function stateRecord<V>(row: Readonly<Record<string, unknown>>, deserialize: (text: string) => V): FencedRecord<V> {
  return Object.freeze({
    value: deserialize(textColumn(row.value, 'value')),
    token: integerColumn(row.token, 'token'),
    owner: textColumn(row.owner, 'owner'),
    version: integerColumn(row.version, 'version'),
  });
}

/** @internal Validates `serialize`, `deserialize` and `tokenCounter`, with their defaults. */
export function codecOptions<V>(options: PostgresFencedStoreOptions<V>): {
  serialize: (value: V) => string;
  deserialize: (text: string) => V;
  tokenCounter: TokenCounter | undefined;
} {
  if (options.tokenCounter !== undefined) adapterOption('tokenCounter', options.tokenCounter, ['raise']);
  return { ...valueCodec(options), tokenCounter: options.tokenCounter };
}

/**
 * A {@link FencedStore} on PostgreSQL: one row per key (`key`, `value`, `token`, `owner`,
 * `version`) in a table created by `postgresDdl()` / `createPostgresTables()`. A write is one
 * statement, `INSERT … ON CONFLICT (key) DO UPDATE … WHERE token < $t OR (token = $t AND owner =
 * $o)` plus the `ifVersion` condition, so the check and the write are one atomic step under the
 * row's lock:
 *
 * - token below the row's, or equal to it from another owner: `StaleTokenError` carrying both
 *   tokens, nothing written;
 * - `ifVersion` given and not the row's version (0: no row): `VersionConflictError`;
 * - otherwise the row is written and its version incremented (1 for the first write).
 *
 * A rejected write costs a second statement, a read of the row, to tell the two rejections apart
 * and report the current token. Rows are never deleted: a row is the highest token seen for its
 * key. Failures of the driver reject with a `TransportError`. Create it with
 * {@link postgresFencedStore}.
 */
export class PostgresFencedStore<V = unknown> implements FencedStore<V> {
  /** Adapter name for logs and telemetry. */
  readonly name = 'postgres';
  /** The quoted `"schema"."table"` in use. */
  readonly table: string;
  readonly #pool: PgPoolLike;
  readonly #serialize: (value: V) => string;
  readonly #deserialize: (text: string) => V;
  readonly #tokenCounter: TokenCounter | undefined;
  readonly #statements: StateStatements;
  readonly #upsert: string;
  #rejected = 0;

  /** Prefer {@link postgresFencedStore}. Throws a `ConfigurationError` on a bad pool or option. */
  constructor(pool: PgPoolLike, options: PostgresFencedStoreOptions<V> = {}) {
    optionsArgument(options, OPTION_NAMES);
    checkPool(pool);
    const tables = resolveTables(options);
    const codec = codecOptions(options);
    this.#pool = pool;
    this.table = tables.state;
    this.#serialize = codec.serialize;
    this.#deserialize = codec.deserialize;
    this.#tokenCounter = codec.tokenCounter;
    this.#statements = stateStatements(tables);
    this.#upsert = upsertStateSql(tables);
  }

  /** The record of `key` (deserialized afresh), or `undefined` if no write was ever accepted for it. */
  async get(key: string): Promise<FencedRecord<V> | undefined> {
    checkKey(key);
    const { rows } = await run(this.#pool, 'get', this.#statements.get, [key], { key });
    const row = rows[0];
    return row === undefined ? undefined : stateRecord(row, this.#deserialize);
  }

  /**
   * Write `value` for `key` under `fence`, atomically checking the token, then `ifVersion`.
   * Resolves with the new record. Rejects with `StaleTokenError` (`token`, `currentToken`) for an
   * older fence, `VersionConflictError` when `ifVersion` does not match, a `RangeError` when
   * `fence.token` is not a positive safe integer, a `TypeError` when the value cannot be serialized,
   * or a `TransportError` when PostgreSQL fails (the write may or may not have been applied then).
   */
  async put(key: string, value: V, fence: Fence, options: PutOptions = {}): Promise<FencedRecord<V>> {
    checkKey(key);
    checkFenceToken(fence);
    const { ifVersion } = options;
    checkIfVersion(ifVersion);
    const text = serializedText(this.#serialize, value, 'fenced store');
    const owner = String(fence.owner);
    const { rows } = await run(
      this.#pool,
      'put',
      this.#upsert,
      [key, text, String(fence.token), owner, ifVersion === undefined ? null : String(ifVersion)],
      { key },
    );
    const row = rows[0];
    if (row !== undefined) {
      // Deserialized from what was sent, so the caller gets a copy, as from `get`.
      return Object.freeze({ value: this.#deserialize(text), token: fence.token, owner, version: integerColumn(row.version, 'version') });
    }
    const error = await rejection(this.#pool, this.#statements, key, { token: fence.token, owner }, ifVersion, this.#tokenCounter);
    if (error instanceof StaleTokenError) this.#rejected += 1;
    throw error;
  }

  /** Number of writes this instance saw rejected as stale (for demos and metrics). */
  get rejected(): number {
    return this.#rejected;
  }
}

/**
 * A PostgreSQL {@link FencedStore}: per-key state whose writes carry a fencing token, rejected with
 * a `StaleTokenError` when older than the newest accepted. Values are JSON by default. Create the
 * table first (`createPostgresTables(pool)` or `postgresDdl()` in your migrations).
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { createPostgresTables, postgresFencedStore } from 'exclusive-consumer/postgres';
 * import { redisLock } from 'exclusive-consumer/redis';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await createPostgresTables(pool, { outbox: false });
 * const lock = redisLock(redis);
 * const decisions = postgresFencedStore<Decision>(pool, { tokenCounter: lock });
 * // in the handler of a consumer with `lock` (`ctx.fence` is then a `Fence`):
 * await updateFenced(decisions, ctx.key, ctx.fence, (d) => ({ ...d, seen: (d?.seen ?? 0) + 1 }));
 * ```
 */
export function postgresFencedStore<V = unknown>(pool: PgPoolLike, options: PostgresFencedStoreOptions<V> = {}): PostgresFencedStore<V> {
  return new PostgresFencedStore<V>(pool, options);
}
