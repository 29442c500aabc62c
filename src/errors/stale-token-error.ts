import { ExclusiveConsumerError, hasCode } from './base.js';

/**
 * A fenced write carried a token older than the newest one the store has accepted for the key (or
 * the same token from another owner). The writer has lost its claim on the key; its write was not
 * applied. Not retriable with the same token.
 */
export class StaleTokenError extends ExclusiveConsumerError {
  static readonly code = 'EC_STALE_TOKEN';
  /** The token the rejected write carried. */
  readonly token: number;
  /** The highest token the store had accepted for the key. */
  readonly currentToken: number;

  constructor(key: string, token: number, currentToken: number, owner?: string) {
    super(
      `Fenced write rejected: token ${token} is older than ${currentToken}` +
        (token === currentToken ? ' (same token, different owner)' : ''),
      StaleTokenError.code,
      false,
      { context: { key, token, currentToken, owner }, safeMessage: true },
    );
    this.token = token;
    this.currentToken = currentToken;
  }
}

/** True for a {@link StaleTokenError} from any copy of the library. */
export const isStaleTokenError = hasCode<StaleTokenError>(StaleTokenError.code);
