import type { FencingTokenSource } from '../locks/types.js';
import type { Claim, ClaimOwner, ObtainResult } from './claim.js';

const HELD: ObtainResult = Object.freeze({ held: true });
const ignore = (): void => undefined;

/**
 * @internal A fencing token minted for a key in a broker-routed mode. It is minted when the key's
 * first message arrives, not when the key gets a slot: the broker hands a key to a new owner after
 * the old one received its messages, so arrival order is ownership order. Minting later would let
 * a consumer that lost the key (still working through its queue) mint a newer token than the new
 * owner's, and win.
 */
export class TokenClaim implements Claim {
  readonly #source: FencingTokenSource;
  #token: number | undefined = undefined;
  #pending: Promise<number> | undefined = undefined;
  /** Bumped by {@link reset}: a token minted before it must not be used after it. */
  #generation = 0;

  constructor(source: FencingTokenSource) {
    this.#source = source;
  }

  token(): number | undefined {
    return this.#token;
  }

  takeWaitMs(): number {
    return 0;
  }

  arrived(key: string): void {
    this.#pending = this.#mint(key);
    this.#pending.catch(ignore); // awaited, and its error handled, when the key runs
  }

  async obtain(owner: ClaimOwner): Promise<ObtainResult> {
    for (;;) {
      const generation = this.#generation;
      const pending = this.#pending ?? this.#mint(owner.key);
      this.#pending = undefined;
      const token = await pending;
      if (generation === this.#generation) {
        this.#token = token;
        return HELD;
      }
    }
  }

  canLinger(): boolean {
    return false;
  }

  connectionLost(): void {
    this.reset();
  }

  reset(): void {
    this.#token = undefined;
    this.#pending = undefined;
    this.#generation += 1;
  }

  #mint(key: string): Promise<number> {
    try {
      // A source that answers synchronously (from JavaScript) must not hang the key.
      return Promise.resolve(this.#source.nextToken(key));
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
