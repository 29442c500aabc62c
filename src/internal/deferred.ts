/** @internal A promise and the function that resolves it. */
export interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
}

/** @internal A promise resolved from outside: the end of a fault, a reconnection, a restart. */
export function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
