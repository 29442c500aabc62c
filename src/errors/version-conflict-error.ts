import { ExclusiveConsumerError, hasCode } from './base.js';

/** A conditional fenced write found a different version than expected (optimistic concurrency). */
export class VersionConflictError extends ExclusiveConsumerError {
  static readonly code = 'EC_VERSION_CONFLICT';

  constructor(key: string, expected: number, actual: number) {
    super(
      `Fenced write expected version ${expected}, found ${actual}`,
      VersionConflictError.code,
      true,
      { context: { key, expected, actual }, safeMessage: true },
    );
  }
}

/** True for a {@link VersionConflictError} from any copy of the library. */
export const isVersionConflictError = hasCode<VersionConflictError>(VersionConflictError.code);
