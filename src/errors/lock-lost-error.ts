import { ExclusiveConsumerError, hasCode } from './base.js';

/**
 * The lease on a key was lost while a handler held it: renewal failed, another owner took it, or
 * the local monotonic deadline passed before a renewal answered. The reason of the aborted
 * `ctx.signal`. Writes made after this point should be fenced; the fenced store rejects them once a
 * newer owner wrote.
 */
export class LockLostError extends ExclusiveConsumerError {
  static readonly code = 'EC_LOCK_LOST';

  constructor(key: string, token: number, why: string, cause?: unknown) {
    super(`Lease on key lost (token ${token}): ${why}`, LockLostError.code, true, {
      cause,
      context: { key, token },
      safeMessage: true,
    });
  }
}

/** True for a {@link LockLostError} from any copy of the library. */
export const isLockLostError = hasCode<LockLostError>(LockLostError.code);
