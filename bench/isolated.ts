/**
 * Child-process entry of the core scenario's "fresh process" rows: runs one contender `runs` times
 * in a process where nothing else ran, and prints `{"rate":[…],"ms":[…],"gcMs":[…]}` on its last
 * line. Started by scenarios/core.ts; by hand:
 *
 *   node --expose-gc --import tsx bench/isolated.ts a-raw 1000000 2
 */
import { gc } from './lib/util.js';
import { uniformWorkload } from './lib/workload.js';
import { KEYS, runCore, type Name } from './scenarios/core.js';

const NAMES: readonly string[] = ['a-raw', 'a-json', 'b-serial', 'c-pqueue'];

async function main(): Promise<void> {
  const [name = '', eventsArg = '1000000', runsArg = '2'] = process.argv.slice(2);
  if (!NAMES.includes(name)) throw new Error(`contender must be one of ${NAMES.join(', ')}`);
  const events = Number(eventsArg);
  const workload = uniformWorkload(events, KEYS, 1);
  const out = { rate: [] as number[], ms: [] as number[], gcMs: [] as number[] };
  for (let i = 0; i < Number(runsArg); i++) {
    gc();
    const m = await runCore(name as Name, events, workload);
    out.rate.push(m.rate!);
    out.ms.push(m.ms!);
    out.gcMs.push(m.gcMs!);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
