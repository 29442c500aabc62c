import { ExclusiveConsumerError, hasCode } from './base.js';

/** A lease could not be acquired within the configured time (the key stayed busy or the lock was unreachable). */
export class LockAcquireTimeoutError extends ExclusiveConsumerError {
  static readonly code = 'EC_LOCK_TIMEOUT';

  constructor(key: string, timeoutMs: number, attempts: number, cause?: unknown) {
    super(
      `Could not acquire the lease within ${timeoutMs} ms (${attempts} attempts)`,
      LockAcquireTimeoutError.code,
      true,
      { cause, context: { key, timeoutMs, attempts }, safeMessage: true },
    );
  }
}

/** True for a {@link LockAcquireTimeoutError} from any copy of the library. */
export const isLockAcquireTimeoutError = hasCode<LockAcquireTimeoutError>(LockAcquireTimeoutError.code);
