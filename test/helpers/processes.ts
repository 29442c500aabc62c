/**
 * Fixture processes for fault tests: a Node process running a TypeScript fixture (`--import tsx`),
 * driven over IPC, whose messages are queued until the test asks for them. Every process forked
 * here is killed after each test if it still runs.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { afterEach } from 'vitest';

/** A fixture process. */
export interface FixtureProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Every message received so far, in order (also those already taken by `next`). */
  readonly received: ReadonlyArray<Record<string, unknown>>;
  /** The next message with `event` (a `fatal` message, or the process exiting first, rejects). */
  next(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves when the process has exited. */
  exited(): Promise<void>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Fork `fixture` as `name` with `env` added to this process's environment. */
export function forkFixture(fixture: string, name: string, env: Readonly<Record<string, string>>): FixtureProcess {
  const child = fork(fixture, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  const inbox: Array<Record<string, unknown>> = [];
  const received: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('message', (message) => {
    inbox.push(message as Record<string, unknown>);
    received.push(message as Record<string, unknown>);
    for (const wake of waiters.splice(0)) wake();
  });
  child.on('exit', () => {
    for (const wake of waiters.splice(0)) wake();
  });
  return {
    name,
    child,
    received,
    exited: () => exit,
    async next(event, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const fatal = inbox.find((m) => m.event === 'fatal');
        if (fatal !== undefined) throw new Error(`${name} failed: ${JSON.stringify(fatal.error)}`);
        const i = inbox.findIndex((m) => m.event === event);
        if (i >= 0) return inbox.splice(i, 1)[0] as Record<string, unknown>;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited before sending ${event}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${name} did not send ${event} within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
  };
}
