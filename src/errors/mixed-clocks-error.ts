import { ExclusiveConsumerError, hasCode } from './base.js';

/**
 * `checkHistory` was given run records stamped on clocks that cannot be compared: monotonic stamps
 * are comparable only within one machine and boot. Check each clock's records on their own.
 */
export class MixedClocksError extends ExclusiveConsumerError {
  static readonly code = 'EC_MIXED_CLOCKS';
  /** The clocks found (`undefined` for records that name none). */
  readonly clocks: ReadonlyArray<string | undefined>;

  constructor(clocks: ReadonlyArray<string | undefined>) {
    super(
      `Cannot compare runs stamped on different clocks (${clocks.map((c) => (c === undefined ? 'unnamed' : JSON.stringify(c))).join(', ')}): ` +
        'monotonic stamps are comparable only within one machine and boot; check each clock’s records on their own',
      MixedClocksError.code,
      false,
      { context: { clocks: clocks.length } },
    );
    this.clocks = clocks;
  }
}

/** True for a {@link MixedClocksError} from any copy of the library. */
export const isMixedClocksError = hasCode<MixedClocksError>(MixedClocksError.code);
