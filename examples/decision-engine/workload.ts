/**
 * The shoppers and their events: the same seeded input for every mode, so that the rows of the
 * table differ only by how the events were consumed.
 */

/** What a shopper did. */
export type EventType = 'view' | 'add-to-cart' | 'checkout';

/** One shopping event, as published (JSON). */
export interface ShopperEvent {
  readonly shopperId: string;
  /** Unique per event: `<shopperId>#<index in the shopper's burst>`. */
  readonly eventId: string;
  /** Index of the event in the whole run, for the bookkeeping arrays. */
  readonly n: number;
  readonly type: EventType;
  /** `performance.now()` when it was published (same process, so comparable with handler times). */
  readonly publishedAt: number;
}

/** A shopper's events, published close together. */
export interface Burst {
  readonly shopperId: string;
  readonly types: readonly EventType[];
  /** Index of the burst's first event among the shopper's events (for event ids). */
  readonly offset: number;
  /** Milliseconds after the start of publishing. */
  readonly at: number;
}

/** The input of one run. */
export interface Workload {
  readonly bursts: readonly Burst[];
  /** Total events (bursts together). */
  readonly events: number;
  readonly shoppers: number;
  /** The shopper whose every event takes `slowEventMs` to decide; its events are spread over the run. */
  readonly slowShopper: string;
  /** Shoppers whose first event stalls (a GC-like pause) between reading and writing their state. */
  readonly stalledShoppers: ReadonlySet<string>;
  /** Shoppers whose events add up to the send threshold: each should get exactly one message. */
  readonly shouldMessage: ReadonlySet<string>;
  readonly publishMs: number;
}

/** Intent each event adds to the shopper's score. */
export const WEIGHT: Readonly<Record<EventType, number>> = { view: 1, 'add-to-cart': 3, checkout: 5 };
/** Score from which the decision engine messages a shopper (once per run). */
export const SEND_THRESHOLD = 3;

export const SLOW_SHOPPER = 'shopper-slow';
const SLOW_EVENTS: readonly EventType[] = ['view', 'view', 'add-to-cart', 'view', 'checkout'];
/** One shopper in this many has its first event stall. */
const STALL_EVERY = 200;

/** Mulberry32: small, fast and seeded, so every mode gets the same shoppers. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One shopper's journey: a few views, often an add-to-cart, sometimes a checkout. */
function journey(random: () => number): EventType[] {
  const types: EventType[] = [];
  const views = 1 + Math.floor(random() * 3);
  for (let i = 0; i < views; i++) types.push('view');
  if (random() < 0.65) {
    types.push('add-to-cart');
    if (random() < 0.4) types.push('checkout');
  }
  return types;
}

/**
 * `events` events (the last burst is cut to fit) from shoppers in bursts, shuffled and spread
 * evenly over `publishMs`, plus the slow shopper's events, one every 18% of the window from 10%.
 */
export function makeWorkload(events: number, publishMs: number, seed = 42): Workload {
  const random = prng(seed);
  const journeys: { shopperId: string; types: EventType[]; offset: number }[] = [];
  let total = SLOW_EVENTS.length;
  for (let i = 1; total < events; i++) {
    const types = journey(random).slice(0, events - total);
    journeys.push({ shopperId: `shopper-${String(i).padStart(5, '0')}`, types, offset: 0 });
    total += types.length;
  }
  // Fisher-Yates: bursts arrive in no particular order.
  for (let i = journeys.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [journeys[i], journeys[j]] = [journeys[j]!, journeys[i]!];
  }
  const bursts: Burst[] = journeys.map((j, i) => ({ ...j, at: (i / journeys.length) * publishMs }));
  SLOW_EVENTS.forEach((type, k) => {
    const at = (0.1 + 0.18 * k) * publishMs;
    const index = bursts.findIndex((b) => b.at > at);
    bursts.splice(index < 0 ? bursts.length : index, 0, { shopperId: SLOW_SHOPPER, types: [type], offset: k, at });
  });

  const stalledShoppers = new Set<string>();
  journeys.forEach((j, i) => {
    if (i % STALL_EVERY === STALL_EVERY >> 1) stalledShoppers.add(j.shopperId);
  });
  const scores = new Map<string, number>();
  for (const burst of bursts) {
    const score = burst.types.reduce((sum, type) => sum + WEIGHT[type], scores.get(burst.shopperId) ?? 0);
    scores.set(burst.shopperId, score);
  }
  const shouldMessage = new Set([...scores].filter(([, score]) => score >= SEND_THRESHOLD).map(([shopper]) => shopper));
  return {
    bursts,
    events: total,
    shoppers: journeys.length + 1,
    slowShopper: SLOW_SHOPPER,
    stalledShoppers,
    shouldMessage,
    publishMs,
  };
}

/**
 * A copy of `w` keeping one shopper in `every` (and the slow one), published `every` times faster:
 * the same offered load (events per second) over a shorter run.
 */
export function thinOut(w: Workload, every: number): Workload {
  const bursts = w.bursts
    .filter((b, i) => b.shopperId === w.slowShopper || i % every === 0)
    .map((b) => ({ ...b, at: b.at / every }));
  const keep = new Set(bursts.map((b) => b.shopperId));
  return {
    ...w,
    bursts,
    publishMs: w.publishMs / every,
    events: bursts.reduce((sum, b) => sum + b.types.length, 0),
    shoppers: keep.size,
    stalledShoppers: new Set([...w.stalledShoppers].filter((s) => keep.has(s))),
    shouldMessage: new Set([...w.shouldMessage].filter((s) => keep.has(s))),
  };
}

/** How many events each shopper has, over all its bursts. */
export function eventsPerShopper(bursts: readonly Burst[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const b of bursts) counts.set(b.shopperId, (counts.get(b.shopperId) ?? 0) + b.types.length);
  return counts;
}
