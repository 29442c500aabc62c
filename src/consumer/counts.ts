import type { ConsumerStats } from './types.js';

/** @internal The cumulative counters of {@link ConsumerStats}, which the consumer's parts raise. */
export type Counts = {
  -readonly [K in keyof Omit<ConsumerStats, 'state' | 'inFlight' | 'running' | 'activeKeys' | 'paused'>]: number;
};

/** @internal Every counter at 0. */
export function zeroCounts(): Counts {
  return {
    processed: 0,
    failed: 0,
    retried: 0,
    deadLettered: 0,
    released: 0,
    repeatsSkipped: 0,
    violations: 0,
    keyMismatches: 0,
    leasesLost: 0,
    staleTokens: 0,
    queueDepthHighWater: 0,
    leaseWaitMs: 0,
    redeliveredRuns: 0,
  };
}
