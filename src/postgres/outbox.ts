import { StaleTokenError } from '../errors/stale-token-error.js';
import { TransportError } from '../errors/transport-error.js';
import { checkKey } from '../fencing/check.js';
import type { Fence, FencedRecord, PutOptions, TokenCounter } from '../fencing/types.js';
import { serializedText } from '../internal/json.js';
import { optionNames, optionsArgument } from '../internal/validate.js';
import { checkClaim, checkDelay, checkLimit, prepareCommit, resolveOutboxOptions, type ResolvedOutboxOptions } from '../outbox/effects.js';
import type {
  ClaimedEffect,
  CommitOptions,
  CommitResult,
  EffectInput,
  EffectStatus,
  Outbox,
  OutboxCounts,
  OutboxEffect,
  OutboxOptions,
} from '../outbox/types.js';
import { checkPool, integerColumn, run, textColumn, type PgPoolLike } from './client.js';
import { codecOptions, rejection, stateRecord, stateStatements, upsertStateSql, type PostgresFencedStoreOptions, type StateStatements } from './fenced-store.js';
import { resolveTables, type PostgresDdlOptions, type PostgresOutboxTableOptions } from './schema.js';

/** The outbox's options and the DDL's, so that one tables object serves `createPostgresTables` and the outbox. */
const OPTION_NAMES = optionNames<PostgresOutboxOptions<unknown> & PostgresDdlOptions>({
  outbox: true,
  schema: true,
  table: true,
  valueType: true,
  outboxTable: true,
  serialize: true,
  deserialize: true,
  tokenCounter: true,
  captureHeaders: true,
  retainDoneMs: true,
});

/** Options of {@link postgresOutbox}: the tables (as given to the DDL), the value codec, the token counter. */
export interface PostgresOutboxOptions<V> extends PostgresFencedStoreOptions<V>, PostgresOutboxTableOptions, OutboxOptions {}

/** Rows forgotten per purge statement: bounds how long one statement holds its locks. */
const PURGE_BATCH = 1_000;

/** The columns every read of an effect selects. */
const EFFECT_COLUMNS = `idempotency_key, key, payload::text AS payload, headers::text AS headers, token, owner, status, attempts,
  last_error, (extract(epoch FROM created_at) * 1000)::bigint AS created_ms`;

/** The outbox's statements for one pair of tables. */
interface Statements extends StateStatements {
  readonly commit: string;
  readonly claim: string;
  readonly complete: string;
  readonly retry: string;
  readonly deadLetter: string;
  readonly effect: string;
  readonly deadLetters: string;
  readonly requeue: string;
  readonly purge: string;
  readonly counts: string;
}

function statements(options: PostgresOutboxTableOptions): Statements {
  const t = resolveTables(options);
  const outbox = t.outbox;
  const ms = (param: string): string => `${param}::double precision * interval '1 millisecond'`;
  return {
    ...stateStatements(t),
    // One statement: the effects are inserted only if the fenced upsert returned a row, so a
    // rejected commit writes nothing, and an accepted one writes both, atomically.
    commit: `WITH w AS (
${upsertStateSql(t)}
), e AS (
  INSERT INTO ${outbox} (idempotency_key, key, payload, headers, token, owner)
  SELECT x.id, $1::text, x.payload::jsonb, $7::jsonb, $3::bigint, $4::text
  FROM unnest($6::text[], $8::text[]) WITH ORDINALITY AS x(id, payload, n)
  WHERE EXISTS (SELECT 1 FROM w)
  ORDER BY x.n
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING idempotency_key
)
SELECT (SELECT version FROM w) AS version, ARRAY(SELECT idempotency_key FROM e) AS created`,
    // SKIP LOCKED: concurrent claimers take different rows instead of queueing on the same ones.
    claim: `UPDATE ${outbox} AS o
SET attempts = o.attempts + 1, due_at = statement_timestamp() + ${ms('$2')}
FROM (
  SELECT idempotency_key, due_at FROM ${outbox}
  WHERE status = 'pending' AND due_at <= statement_timestamp()
  ORDER BY due_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
) AS c
WHERE o.idempotency_key = c.idempotency_key
RETURNING o.idempotency_key, o.key, o.payload::text AS payload, o.headers::text AS headers, o.token, o.owner, o.status, o.attempts,
  o.last_error, (extract(epoch FROM o.created_at) * 1000)::bigint AS created_ms, (extract(epoch FROM c.due_at) * 1000000)::bigint AS was_due`,
    // For every completion of one event-loop turn at once: one statement, one commit to disk.
    complete: `UPDATE ${outbox} SET status = 'done', finished_at = statement_timestamp()
WHERE idempotency_key = ANY($1::text[]) AND status <> 'done' RETURNING idempotency_key`,
    retry: `UPDATE ${outbox} SET due_at = statement_timestamp() + ${ms('$3')}, last_error = $4
WHERE idempotency_key = $1 AND status = 'pending' AND attempts = $2 RETURNING 1`,
    deadLetter: `UPDATE ${outbox} SET status = 'dead', finished_at = statement_timestamp(), last_error = $3
WHERE idempotency_key = $1 AND status = 'pending' AND attempts = $2 RETURNING 1`,
    effect: `SELECT ${EFFECT_COLUMNS} FROM ${outbox} WHERE idempotency_key = $1`,
    deadLetters: `SELECT ${EFFECT_COLUMNS} FROM ${outbox} WHERE status = 'dead' ORDER BY finished_at LIMIT $1`,
    requeue: `UPDATE ${outbox} SET status = 'pending', attempts = 0, due_at = statement_timestamp(), finished_at = NULL
WHERE idempotency_key = $1 AND status = 'dead' RETURNING 1`,
    purge: `DELETE FROM ${outbox} WHERE idempotency_key IN (
  SELECT idempotency_key FROM ${outbox}
  WHERE status = 'done' AND finished_at <= statement_timestamp() - ${ms('$1')}
  LIMIT ${PURGE_BATCH}
)`,
    counts: `SELECT status, count(*) AS n FROM ${outbox} GROUP BY status`,
  };
}

/**
 * An {@link Outbox} on PostgreSQL: the state table of `postgresFencedStore` (one row per key) and
 * a table of effects (one row per idempotency key), created by `postgresDdl()` /
 * `createPostgresTables()`.
 *
 * - `commit` is **one statement**: a data-modifying CTE runs the fenced upsert of the key's row
 *   (as the fenced store's `put`) and inserts the effects only if it wrote (`ON CONFLICT
 *   (idempotency_key) DO NOTHING`), so a stale or conflicting commit writes nothing and an accepted
 *   one writes everything, atomically. A rejection costs a second statement to classify it.
 * - `claim` is one `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)`: concurrent dispatchers take
 *   different effects, and each claim pushes `due_at` `visibilityMs` ahead.
 * - `complete`: the completions of one event-loop turn are one `UPDATE … WHERE idempotency_key =
 *   ANY($1)`, so a dispatcher's batch costs one statement (and one commit to disk), not one each.
 * - Times are the server's (`statement_timestamp()`).
 *
 * The state rows are those of a `postgresFencedStore` on the same table: either can read them. Pass
 * a `PoolClient` inside your own transaction and the commit is part of it, with your other writes.
 * Create it with {@link postgresOutbox}.
 */
export class PostgresOutbox<V = unknown, P = unknown> implements Outbox<V, P> {
  /** Adapter name for logs and telemetry. */
  readonly name = 'postgres';
  readonly #pool: PgPoolLike;
  readonly #sql: Statements;
  readonly #serialize: (value: V) => string;
  readonly #deserialize: (text: string) => V;
  readonly #tokenCounter: TokenCounter | undefined;
  readonly #options: ResolvedOutboxOptions;
  /** Completions waiting for the end of the turn. */
  #completions: Array<{ readonly idempotencyKey: string; resolve(done: boolean): void; reject(error: unknown): void }> = [];
  #rejected = 0;

  /** Prefer {@link postgresOutbox}. Throws a `ConfigurationError` on a bad pool or option. */
  constructor(pool: PgPoolLike, options: PostgresOutboxOptions<V> = {}) {
    optionsArgument(options, OPTION_NAMES);
    checkPool(pool);
    this.#pool = pool;
    this.#sql = statements(options);
    const codec = codecOptions(options);
    this.#serialize = codec.serialize;
    this.#deserialize = codec.deserialize;
    this.#tokenCounter = codec.tokenCounter;
    this.#options = resolveOutboxOptions(options);
  }

  /** The state record of `key`, or `undefined` if no commit was ever accepted for it. */
  async get(key: string): Promise<FencedRecord<V> | undefined> {
    checkKey(key);
    const { rows } = await run(this.#pool, 'get', this.#sql.get, [key], { key });
    const row = rows[0];
    return row === undefined ? undefined : stateRecord(row, this.#deserialize);
  }

  /** A commit without effects. */
  async put(key: string, value: V, fence: Fence, options: PutOptions = {}): Promise<FencedRecord<V>> {
    return (await this.commit(key, value, fence, [], options)).record;
  }

  /** See {@link Outbox.commit}. */
  async commit(
    key: string,
    value: V,
    fence: Fence,
    effects: readonly EffectInput<P>[],
    options: CommitOptions = {},
  ): Promise<CommitResult<V>> {
    const prepared = prepareCommit(key, fence, effects, options, this.#options.captureHeaders);
    const { ifVersion } = options;
    const text = serializedText(this.#serialize, value, 'outbox');
    const owner = String(fence.owner);
    const { rows } = await run(
      this.#pool,
      'commit',
      this.#sql.commit,
      [
        key,
        text,
        String(fence.token),
        owner,
        ifVersion === undefined ? null : String(ifVersion),
        prepared.effects.map((e) => e.idempotencyKey),
        JSON.stringify(prepared.headers),
        prepared.effects.map((e) => e.payload),
      ],
      { key },
    );
    const row = rows[0];
    if (row !== undefined && row.version !== null && row.version !== undefined) {
      const created = new Set(Array.isArray(row.created) ? (row.created as unknown[]) : []);
      return {
        record: Object.freeze({ value: this.#deserialize(text), token: fence.token, owner, version: integerColumn(row.version, 'version') }),
        effects: prepared.effects.map((e) => ({ idempotencyKey: e.idempotencyKey, created: created.has(e.idempotencyKey) })),
      };
    }
    const error = await rejection(this.#pool, this.#sql, key, { token: fence.token, owner }, ifVersion, this.#tokenCounter);
    if (error instanceof StaleTokenError) this.#rejected += 1;
    throw error;
  }

  /** See {@link Outbox.claim}. */
  async claim(limit: number, visibilityMs: number): Promise<ClaimedEffect<P>[]> {
    checkClaim(limit, visibilityMs);
    const { rows } = await run(this.#pool, 'claim', this.#sql.claim, [limit, visibilityMs]);
    // RETURNING keeps no order: oldest due first, as selected.
    const sorted = [...rows].sort((x, y) => integerColumn(x.was_due, 'due_at') - integerColumn(y.was_due, 'due_at'));
    return sorted.map((row) => {
      const { status: _status, attempts, ...effect } = effectOf<P>(row);
      return Object.freeze({ ...effect, attempt: attempts });
    });
  }

  /**
   * See {@link Outbox.complete}. The completions asked for in one event-loop turn (a dispatcher's
   * sends that finished together) go out as one statement; each call still resolves on its own.
   */
  complete(effect: ClaimedEffect<P>): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.#completions.length === 0) setImmediate(this.#flushCompletions);
      this.#completions.push({ idempotencyKey: effect.idempotencyKey, resolve, reject });
    });
  }

  readonly #flushCompletions = (): void => {
    const batch = this.#completions;
    this.#completions = [];
    const ids = [...new Set(batch.map((c) => c.idempotencyKey))];
    run(this.#pool, 'complete', this.#sql.complete, [ids]).then(
      ({ rows }) => {
        const done = new Set(rows.map((row) => row.idempotency_key));
        // A key asked twice in one batch was completed once: the first caller did it.
        for (const c of batch) {
          c.resolve(done.delete(c.idempotencyKey));
        }
      },
      (error: unknown) => {
        for (const c of batch) c.reject(error);
      },
    );
  };

  /** See {@link Outbox.retry}. */
  async retry(effect: ClaimedEffect<P>, delayMs: number, error: string): Promise<boolean> {
    checkDelay(delayMs);
    const values = [effect.idempotencyKey, effect.attempt, delayMs, String(error)];
    return ((await run(this.#pool, 'retry', this.#sql.retry, values)).rowCount ?? 0) > 0;
  }

  /** See {@link Outbox.deadLetter}. */
  async deadLetter(effect: ClaimedEffect<P>, error: string): Promise<boolean> {
    const values = [effect.idempotencyKey, effect.attempt, String(error)];
    return ((await run(this.#pool, 'dead-letter', this.#sql.deadLetter, values)).rowCount ?? 0) > 0;
  }

  /** See {@link Outbox.effect}. */
  async effect(idempotencyKey: string): Promise<OutboxEffect<P> | undefined> {
    const { rows } = await run(this.#pool, 'effect', this.#sql.effect, [idempotencyKey]);
    return rows[0] === undefined ? undefined : effectOf<P>(rows[0]);
  }

  /** See {@link Outbox.deadLetters}. */
  async deadLetters(limit = 100): Promise<OutboxEffect<P>[]> {
    checkLimit(limit);
    const { rows } = await run(this.#pool, 'dead letters', this.#sql.deadLetters, [limit]);
    return rows.map((row) => effectOf<P>(row));
  }

  /** See {@link Outbox.requeue}. */
  async requeue(idempotencyKey: string): Promise<boolean> {
    return ((await run(this.#pool, 'requeue', this.#sql.requeue, [idempotencyKey])).rowCount ?? 0) > 0;
  }

  /** See {@link Outbox.purge}: in batches, each its own statement. */
  async purge(): Promise<number> {
    let purged = 0;
    for (;;) {
      const n = (await run(this.#pool, 'purge', this.#sql.purge, [this.#options.retainDoneMs])).rowCount ?? 0;
      purged += n;
      if (n < PURGE_BATCH) return purged;
    }
  }

  /** See {@link Outbox.counts}. */
  async counts(): Promise<OutboxCounts> {
    const { rows } = await run(this.#pool, 'counts', this.#sql.counts, []);
    const counts = { pending: 0, done: 0, dead: 0 };
    for (const row of rows) {
      const status = row.status as EffectStatus;
      if (status in counts) counts[status] = integerColumn(row.n, 'count');
    }
    return counts;
  }

  /** Number of commits this instance saw rejected as stale (for demos and metrics). */
  get rejected(): number {
    return this.#rejected;
  }
}

/**
 * A PostgreSQL {@link Outbox}: a key's state and the effects decided with it commit in one
 * statement under the run's fence; a dispatcher (`createOutboxDispatcher`) sends the effects at
 * least once. Create the tables first (`createPostgresTables(pool)` or `postgresDdl()`).
 *
 * @example
 * ```ts
 * import { createPostgresTables, postgresOutbox } from 'exclusive-consumer/postgres';
 * import { commitDecision, createOutboxDispatcher } from 'exclusive-consumer';
 *
 * await createPostgresTables(pool);
 * const outbox = postgresOutbox<ShopperState, Sms>(pool, { tokenCounter: lock });
 * // in a handler:
 * await commitDecision(outbox, ctx, (state) => decide(state, event));
 * ```
 */
export function postgresOutbox<V = unknown, P = unknown>(pool: PgPoolLike, options: PostgresOutboxOptions<V> = {}): PostgresOutbox<V, P> {
  return new PostgresOutbox<V, P>(pool, options);
}

function effectOf<P>(row: Record<string, unknown>): OutboxEffect<P> {
  const status = textColumn(row.status, 'status');
  if (status !== 'pending' && status !== 'done' && status !== 'dead') {
    throw new TransportError(`PostgreSQL returned the unknown effect status ${JSON.stringify(status)}`, {
      retriable: false,
      context: { store: 'postgres', column: 'status' },
    });
  }
  return Object.freeze({
    idempotencyKey: textColumn(row.idempotency_key, 'idempotency_key'),
    key: textColumn(row.key, 'key'),
    payload: JSON.parse(textColumn(row.payload, 'payload')) as P,
    token: integerColumn(row.token, 'token'),
    owner: textColumn(row.owner, 'owner'),
    headers: JSON.parse(textColumn(row.headers, 'headers')) as Record<string, string>,
    createdAt: integerColumn(row.created_ms, 'created_at'),
    status,
    attempts: integerColumn(row.attempts, 'attempts'),
    lastError: typeof row.last_error === 'string' ? row.last_error : undefined,
  });
}
