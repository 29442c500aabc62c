import type { LockLostError } from '../errors/lock-lost-error.js';

/** @internal The key a claim is for, and its run to abort when the claim is lost. */
export interface ClaimOwner {
  readonly key: string;
  readonly current: { abort(reason: Error): void } | undefined;
}

/** @internal What a claim needs from its consumer. */
export interface ClaimHost {
  readonly consumerName: string;
  /** The lease of `owner`'s key was lost while held. */
  leaseLost(owner: ClaimOwner, error: LockLostError): void;
  reportError(error: unknown, phase: string): void;
}

/**
 * @internal What {@link Claim.obtain} came to.
 * - `held`: runs may start; `acquired` describes a lease just granted.
 * - `retryInMs`: busy elsewhere; ask again after this long.
 * - `giveUp`: stop asking; the key's events go back to the broker for this reason.
 */
export type ObtainResult =
  | { readonly held: true; readonly acquired?: { readonly token: number; readonly waitMs: number } }
  | { readonly held: false; readonly retryInMs: number; readonly giveUp?: undefined }
  | { readonly held: false; readonly giveUp: string; readonly retryInMs?: undefined };

/**
 * @internal What a key's runs must hold, and the fencing token they carry: the key's lease
 * (`shared-locked`) or a token minted for it (broker-routed modes with a token source). One object
 * per key state, and {@link reset} the one place that lets it go.
 */
export interface Claim {
  /** The token of a run starting now, or `undefined` when the claim must be obtained first. */
  token(): number | undefined;
  /** Milliseconds the claim now held took to obtain, once: the next run reports it, later ones 0. */
  takeWaitMs(): number;
  /** The key's first event arrived in this consumer. */
  arrived(key: string): void;
  /** Try to obtain the claim. Rejects when obtaining failed (a failed attempt of the head event). */
  obtain(owner: ClaimOwner): Promise<ObtainResult>;
  /** Whether the claim may be kept while the key has no events. */
  canLinger(): boolean;
  /** The connection deliveries came on was lost: drop what the broker's routing gave. */
  connectionLost(): void;
  /** Let the claim go: release the lease, forget the token. */
  reset(): void;
}
