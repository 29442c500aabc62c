/**
 * @internal Requests for one partition per quiet spell: with the default
 * `failoverRedeliverAfterMs` of 3 s, after 3, 6, 12, 24 and 48 s of quiet.
 */
export const MAX_ASKS = 5;

/**
 * @internal Failover: which partitions went quiet since they last delivered.
 *
 * A partition that changes hands is rewound to its new active consumer after the broker's
 * hand-over delay (`activeConsumerFailoverDelayTimeMillis`), but Pulsar 4.0 can skip that rewind's
 * dispatch when the new consumer already waits at the end of the partition (it got newer messages
 * during the delay): the rewound messages then wait for the next message published there. And in
 * Failover a negative acknowledgement is a request to redeliver every unacknowledged message of the
 * partition, which the broker ignores from a consumer that is not the partition's active one, and
 * from the new one during the delay. So what the old consumer gave back, and what either gave back
 * meanwhile, could wait indefinitely on a partition that went quiet.
 *
 * The transports therefore track, per partition, the last message received, the tick of the last
 * receipt or settlement, the messages not settled, and how often it was asked for since it last
 * delivered; once a partition has been quiet for a while with nothing unsettled, they ask the
 * broker to redeliver it (a negative acknowledgement of its last message, which the client turns
 * into that partition's redelivery request). The broker honours it from the active consumer and
 * redelivers nothing when nothing is missing; from another consumer, or during a hand-over delay,
 * it ignores it without a word. So one request is not enough: a partition that stays quiet is
 * asked for again after twice the quiet time, then four times, up to {@link MAX_ASKS} requests per
 * quiet spell, so that an ignored request costs a delay rather than a stranded partition, and an
 * idle partition costs a handful of frames rather than a steady trickle. Time is a coarse tick, so
 * that a message costs no clock read.
 *
 * A new connection keeps the partitions seen: the broker may make this consumer the active one of
 * any of them again, and the hand-over that does so is the rewind that can be skipped.
 *
 * A partition is quiet only while the transport could have received from it: while it is paused or
 * has no room, the client may hold messages of the partition that the request would make the broker
 * send again (a duplicate), so the clock of every partition stops.
 *
 * @typeParam P how a transport names a partition
 * @typeParam M what it needs to negatively acknowledge (a message id, a message)
 */
export class QuietPartitions<P, M> {
  #tick = 0;
  readonly #partitions = new Map<P, PartitionState<M>>();

  /** A message of `partition` arrived. */
  received(partition: P, message: M): void {
    const state = this.#partitions.get(partition);
    if (state === undefined) {
      this.#partitions.set(partition, { last: message, tick: this.#tick, unsettled: 1, asks: 0 });
      return;
    }
    state.last = message;
    state.tick = this.#tick;
    state.unsettled += 1;
    state.asks = 0;
  }

  /** A message of `partition` was acknowledged or given back. */
  settled(partition: P): void {
    const state = this.#partitions.get(partition);
    if (state === undefined) return;
    state.unsettled -= 1;
    state.tick = this.#tick;
  }

  /** A new connection: nothing is unsettled on it, and every partition seen is asked for again once quiet. */
  reset(): void {
    for (const state of this.#partitions.values()) {
      state.unsettled = 0;
      state.tick = this.#tick;
      state.asks = 0;
    }
  }

  /**
   * Advance one tick. Returns the last message of each partition with nothing unsettled that was
   * quiet for `ticks` ticks (for its second request `2 × ticks`, its third `4 × ticks`, …).
   */
  sweep(ticks: number): M[] {
    this.#tick += 1;
    const quiet: M[] = [];
    for (const state of this.#partitions.values()) {
      if (state.asks >= MAX_ASKS || state.unsettled !== 0 || this.#tick - state.tick < ticks * 2 ** state.asks) continue;
      state.asks += 1;
      quiet.push(state.last);
    }
    return quiet;
  }

  /** Advance one tick in which nothing could be received: no partition gets quieter. */
  hold(): void {
    this.#tick += 1;
    for (const state of this.#partitions.values()) state.tick = this.#tick;
  }

  /**
   * Sweep every `afterMs / 4` (at least 10 ms), reporting partitions quiet for `afterMs` to `ask`;
   * a tick in which `receiving()` is false only holds the clocks. Returns the (unref'd) timer.
   */
  watch(afterMs: number, receiving: () => boolean, ask: (quiet: M[]) => void): NodeJS.Timeout {
    const every = Math.max(10, Math.floor(afterMs / 4));
    // Whole ticks: the partial first one is not counted.
    const ticks = Math.ceil(afterMs / every) + 1;
    const timer = setInterval(() => {
      if (!receiving()) {
        this.hold();
        return;
      }
      const quiet = this.sweep(ticks);
      if (quiet.length > 0) ask(quiet);
    }, every);
    timer.unref();
    return timer;
  }
}

interface PartitionState<M> {
  last: M;
  tick: number;
  unsettled: number;
  /** Requests since the partition last delivered. */
  asks: number;
}
