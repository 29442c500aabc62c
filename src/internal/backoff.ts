/** @internal An exponential backoff: the delay before attempt `n + 1` after `n` failures. */
export interface BackoffPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Growth per attempt. */
  readonly factor: number;
  /** Fraction of each delay drawn at random: 0.5 gives a delay between 50% and 100% of the computed one. */
  readonly jitter: number;
}

/**
 * @internal The delay after the `failures`-th consecutive failure (1 for the first): the initial
 * delay grown by `factor` per failure, capped, then jittered downwards so that consumers failing
 * together do not retry together.
 */
export function backoffDelay(failures: number, policy: BackoffPolicy): number {
  const exponent = Math.min(Math.max(0, failures - 1), 64);
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** exponent);
  return Math.round(base * (1 - policy.jitter * Math.random()));
}

/**
 * @internal `delayMs` spread evenly between 50% and 150%: the pause between polls of a busy
 * resource (a lease held elsewhere), so that waiters do not poll in step.
 */
export function pollDelay(delayMs: number): number {
  return delayMs * (0.5 + Math.random());
}
