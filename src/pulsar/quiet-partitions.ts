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
 * The transports therefore track, per partition of the current connection, the last message
 * received, the tick of the last receipt or settlement, the messages not settled, and whether it
 * delivered since it was last reported; once a partition has been quiet for a while with nothing
 * unsettled, they ask the broker once to redeliver it (a negative acknowledgement of its last
 * message, which the client turns into that partition's redelivery request). The broker honours it
 * from the active consumer and redelivers nothing when nothing is missing; from another consumer it
 * is ignored. Time is a coarse tick, so that a message costs no clock read.
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
      this.#partitions.set(partition, { last: message, tick: this.#tick, unsettled: 1, due: true });
      return;
    }
    state.last = message;
    state.tick = this.#tick;
    state.unsettled += 1;
    state.due = true;
  }

  /** A message of `partition` was acknowledged or given back. */
  settled(partition: P): void {
    const state = this.#partitions.get(partition);
    if (state === undefined) return;
    state.unsettled -= 1;
    state.tick = this.#tick;
  }

  /** A new connection: its partitions start over. */
  reset(): void {
    this.#partitions.clear();
  }

  /**
   * Advance one tick. Returns the last message of each partition that delivered since it was last
   * returned, has nothing unsettled, and saw nothing for `ticks` ticks.
   */
  sweep(ticks: number): M[] {
    this.#tick += 1;
    const quiet: M[] = [];
    for (const state of this.#partitions.values()) {
      if (!state.due || state.unsettled !== 0 || this.#tick - state.tick < ticks) continue;
      state.due = false;
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
  due: boolean;
}
