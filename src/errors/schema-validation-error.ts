import { ExclusiveConsumerError, hasCode } from './base.js';

/** One problem a schema found, as {@link SchemaValidationError} reports it. */
export interface SchemaIssue {
  /** The validator's message. */
  readonly message: string;
  /** Where in the value, as property names and indices; empty for the value itself. */
  readonly path: readonly PropertyKey[];
}

/** Issues listed in the message; the rest are counted. */
const LISTED_ISSUES = 10;

/**
 * A value failed the schema of a `schemaCodec`. Thrown by `encode` (so `producer.send` rejects with
 * it and nothing is published) and by `decode` (the consumer wraps it in a `DecodeError` and
 * dead-letters the message). Not retriable. The message lists the issues with their paths; since a
 * validator's message may quote the value, it is telemetry only with `privacy.errorMessages`.
 */
export class SchemaValidationError extends ExclusiveConsumerError {
  static readonly code = 'EC_SCHEMA_VALIDATION';
  /** The issues the schema reported. */
  readonly issues: readonly SchemaIssue[];

  constructor(vendor: string, operation: 'decode' | 'encode', issues: readonly SchemaIssue[]) {
    const listed = issues.slice(0, LISTED_ISSUES).map(formatIssue).join('; ');
    const more = issues.length > LISTED_ISSUES ? `; and ${issues.length - LISTED_ISSUES} more` : '';
    const count = issues.length === 1 ? '1 issue' : `${issues.length} issues`;
    super(`Schema (${vendor}) rejected the value to ${operation}, ${count}: ${listed}${more}`, SchemaValidationError.code, false, {
      context: { vendor, operation, issueCount: issues.length },
    });
    this.issues = issues;
  }
}

function formatIssue(issue: SchemaIssue): string {
  if (issue.path.length === 0) return issue.message;
  let path = '';
  for (const segment of issue.path) {
    if (typeof segment === 'number') path += `[${segment}]`;
    else path += path.length === 0 ? String(segment) : `.${String(segment)}`;
  }
  return `${path}: ${issue.message}`;
}

/** True for a {@link SchemaValidationError} from any copy of the library. */
export const isSchemaValidationError = hasCode<SchemaValidationError>(SchemaValidationError.code);
