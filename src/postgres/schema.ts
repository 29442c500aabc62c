import { ConfigurationError } from '../errors/configuration-error.js';
import { booleanOption, objectArgument, oneOfOption, optionNames, optionsArgument } from '../internal/validate.js';
import { checkPool, pgError, type PgPoolLike } from './client.js';

const DDL_OPTION_NAMES = optionNames<PostgresDdlOptions>({
  schema: true,
  table: true,
  valueType: true,
  outboxTable: true,
  outbox: true,
});

/** Where the fenced state lives, and how values are stored. */
export interface PostgresTableOptions {
  /**
   * Schema of the tables. Names are quoted as given, so they are case-sensitive: letters, digits
   * and `_`, not starting with a digit, at most 63 characters.
   * @default 'public'
   */
  readonly schema?: string;
  /**
   * Table of the fenced state, one row per key (same naming rules as `schema`).
   * @default 'ec_fenced_state'
   */
  readonly table?: string;
  /**
   * Column type of the stored values: `jsonb` (queryable with SQL; needs values that serialize to
   * JSON) or `text` (anything your `serialize` produces). The DDL and the store must agree.
   * @default 'jsonb'
   */
  readonly valueType?: 'jsonb' | 'text';
}

/** Where the outbox lives: the state table, plus one table of effects. */
export interface PostgresOutboxTableOptions extends PostgresTableOptions {
  /**
   * Table of the effects, one row per idempotency key (naming rules as `schema`, at most 54
   * characters: its index names add a suffix).
   * @default 'ec_outbox'
   */
  readonly outboxTable?: string;
}

/** Options of {@link postgresDdl} and {@link createPostgresTables}. */
export interface PostgresDdlOptions extends PostgresOutboxTableOptions {
  /**
   * Also create the outbox's table of effects (not needed by the fenced store alone).
   * @default true
   */
  readonly outbox?: boolean;
}

/** @internal Validated, quoted names and the value type, as the statements use them. */
export interface ResolvedTables {
  /** `"schema"."table"` of the state. */
  readonly state: string;
  /** `"schema"."outbox"` of the effects. */
  readonly outbox: string;
  readonly schema: string;
  readonly valueType: 'jsonb' | 'text';
  /** Unquoted names, for error contexts. */
  readonly names: { readonly schema: string; readonly table: string; readonly outboxTable: string };
  /** Quoted index names of the outbox table. */
  readonly dueIndex: string;
  readonly finishedIndex: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function identifier(option: string, value: unknown, fallback: string, maxLength = 63): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !IDENTIFIER.test(value) || value.length > maxLength) {
    throw new ConfigurationError(option, `an SQL name of letters, digits and _ (not starting with a digit, at most ${maxLength} characters)`, value);
  }
  return value;
}

/** Identifiers are validated above, so quoting only has to keep their case. */
const quote = (name: string): string => `"${name}"`;

/** @internal Validates the table options; throws a `ConfigurationError` on a bad one. */
export function resolveTables(options: PostgresOutboxTableOptions = {}): ResolvedTables {
  objectArgument('options', options);
  const schema = identifier('schema', options.schema, 'public');
  const table = identifier('table', options.table, 'ec_fenced_state');
  const outboxTable = identifier('outboxTable', options.outboxTable, 'ec_outbox', 54);
  const valueType = oneOfOption('valueType', options.valueType, 'jsonb', ['jsonb', 'text']);
  return {
    state: `${quote(schema)}.${quote(table)}`,
    outbox: `${quote(schema)}.${quote(outboxTable)}`,
    schema: quote(schema),
    valueType,
    names: { schema, table, outboxTable },
    dueIndex: quote(`${outboxTable}_due`),
    finishedIndex: quote(`${outboxTable}_finished`),
  };
}

/**
 * The SQL that creates the tables of the PostgreSQL fenced store and outbox, if they do not exist:
 *
 * - the state table, one row per key: `key text PRIMARY KEY, value jsonb|text, token bigint,
 *   owner text, version bigint`. Rows are never deleted: a row is the highest token seen for its key;
 * - with `outbox` (the default), the effects table, one row per idempotency key, with the fence it
 *   was committed under, its status (`pending`, `done`, `dead`), attempts, last error and times,
 *   and two partial indexes: due pending effects, and finished ones by time (purge, dead letters).
 *
 * Run it with your migration tool, or with {@link createPostgresTables}. Names come from the
 * options, validated and quoted; give the store the same options.
 *
 * @example
 * ```ts
 * import { postgresDdl } from 'exclusive-consumer/postgres';
 * writeFileSync('migrations/001_exclusive_consumer.sql', postgresDdl({ schema: 'decisions' }));
 * ```
 */
export function postgresDdl(options: PostgresDdlOptions = {}): string {
  optionsArgument(options, DDL_OPTION_NAMES);
  const t = resolveTables(options);
  const withOutbox = booleanOption('outbox', options.outbox) ?? true;
  const parts: string[] = [];
  // Creating `public` would need the CREATE privilege on the database even though it exists.
  if (t.names.schema !== 'public') parts.push(`CREATE SCHEMA IF NOT EXISTS ${t.schema};`);
  parts.push(`CREATE TABLE IF NOT EXISTS ${t.state} (
  key     text   PRIMARY KEY,
  value   ${t.valueType.padEnd(6)} NOT NULL,
  token   bigint NOT NULL CHECK (token >= 1),
  owner   text   NOT NULL,
  version bigint NOT NULL CHECK (version >= 1)
);`);
  if (withOutbox) {
    parts.push(`CREATE TABLE IF NOT EXISTS ${t.outbox} (
  idempotency_key text        PRIMARY KEY,
  key             text        NOT NULL,
  payload         jsonb       NOT NULL,
  headers         jsonb       NOT NULL,
  token           bigint      NOT NULL,
  owner           text        NOT NULL,
  status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'dead')),
  attempts        integer     NOT NULL DEFAULT 0,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  due_at          timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz
);`);
    parts.push(`CREATE INDEX IF NOT EXISTS ${t.dueIndex} ON ${t.outbox} (due_at) WHERE status = 'pending';`);
    parts.push(`CREATE INDEX IF NOT EXISTS ${t.finishedIndex} ON ${t.outbox} (status, finished_at) WHERE status <> 'pending';`);
  }
  return `${parts.join('\n')}\n`;
}

/**
 * Runs {@link postgresDdl} on `pool`: creates what is missing, leaves what exists. Safe to call from
 * every process at start-up: the statements run as one transaction under an advisory lock, so two
 * processes creating the same tables at once do not collide. Rejects with a `TransportError` when
 * PostgreSQL refuses (e.g. no CREATE privilege).
 */
export async function createPostgresTables(pool: PgPoolLike, options: PostgresDdlOptions = {}): Promise<void> {
  checkPool(pool);
  const ddl = postgresDdl(options);
  // No parameters: `pg` then sends a simple query, whose statements run as one transaction.
  const text = `SELECT pg_advisory_xact_lock(hashtext('exclusive-consumer:ddl'));\n${ddl}`;
  try {
    await pool.query(text);
  } catch (error) {
    throw pgError(error, 'create tables', { schema: options.schema ?? 'public' });
  }
}
