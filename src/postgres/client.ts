import { TransportError } from '../errors/transport-error.js';
import { adapterOption } from '../internal/validate.js';

/** The part of a query result the adapters read. */
export interface PgResultLike {
  /** Rows as objects keyed by column name. */
  readonly rows: ReadonlyArray<Record<string, unknown>>;
  /** Rows the statement touched (`null` for statements that report none). */
  readonly rowCount: number | null;
}

/**
 * What the PostgreSQL adapters need from a client: one method, `query(text, values)`, as `pg`'s
 * `Pool`, `Client` and `PoolClient` have it. The adapters never import `pg` at run time (it is an
 * optional peer dependency), and every statement they send is a single statement, so a `Pool` is
 * the usual choice: TLS, authentication, pool size and timeouts are whatever it was built with.
 * Passing a `PoolClient` inside a transaction you opened makes the adapter's writes part of it.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * const pool: PgPoolLike = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
 * ```
 */
export interface PgPoolLike {
  /** Runs one statement with positional parameters (`$1`, `$2`…). */
  query(text: string, values?: unknown[]): Promise<PgResultLike>;
}

/** @internal Throws a `ConfigurationError` unless `pool` has a `query` method. */
export function checkPool(pool: unknown): asserts pool is PgPoolLike {
  adapterOption('pool', pool, ['query']);
}

/**
 * SQLSTATE classes and codes that say "not now" rather than "never": connection exceptions, a
 * serialization failure or deadlock (the statement can be run again), insufficient resources,
 * the server shutting down or starting, a lock timeout, a statement cancelled by a timeout.
 */
const TRANSIENT_CLASSES = ['08', '53', '57P'];
const TRANSIENT_CODES = new Set(['40001', '40P01', '55P03', '57014']);

/**
 * @internal Wraps a failure of the driver in a `TransportError` with the original as `cause`.
 * Errors without a SQLSTATE (refused, reset or closed connections, pool timeouts) and the transient
 * SQLSTATEs above are retriable; any other SQLSTATE (a missing table, bad data, a constraint, a
 * permission) would fail the same way again, so it is not.
 */
export function pgError(error: unknown, operation: string, context: Readonly<Record<string, unknown>>): TransportError {
  const message = error instanceof Error ? error.message : String(error);
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const sqlState = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const retriable =
    sqlState === undefined || TRANSIENT_CODES.has(sqlState) || TRANSIENT_CLASSES.some((c) => sqlState.startsWith(c));
  return new TransportError(`PostgreSQL ${operation} failed: ${message}`, {
    cause: error,
    retriable,
    context: { store: 'postgres', operation, ...(sqlState === undefined ? {} : { sqlState }), ...context },
  });
}

/** @internal Runs `text` on `pool`, mapping driver failures with {@link pgError}. */
export async function run(
  pool: PgPoolLike,
  operation: string,
  text: string,
  values: unknown[],
  context: Readonly<Record<string, unknown>> = {},
): Promise<PgResultLike> {
  try {
    return await pool.query(text, values);
  } catch (error) {
    throw pgError(error, operation, context);
  }
}

/**
 * @internal A `bigint`/`integer` column as a number. `pg` returns `bigint` as a string (and
 * `integer` as a number); both are accepted. Throws a non-retriable `TransportError` on anything
 * else, or on a value beyond the safe integers, rather than compute with a wrong number.
 */
export function integerColumn(value: unknown, column: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n)) {
    throw new TransportError(`PostgreSQL returned ${JSON.stringify(value)} for ${column}, not a safe integer`, {
      retriable: false,
      context: { store: 'postgres', column },
    });
  }
  return n;
}

/** @internal A `text` column as a string; a non-retriable `TransportError` otherwise. */
export function textColumn(value: unknown, column: string): string {
  if (typeof value !== 'string') {
    throw new TransportError(`PostgreSQL returned ${typeof value} for ${column}, not text`, {
      retriable: false,
      context: { store: 'postgres', column },
    });
  }
  return value;
}
