/**
 * CPU profile of one contender's timed window only (publishing and setup excluded), via the
 * inspector. Writes bench/profiles/<contender>-<time>.cpuprofile (open it in Chrome DevTools or
 * summarize it with bench/tools/cpuprofile-summary.ts).
 *
 *   node --expose-gc --import tsx bench/profile.ts [contender] [events] [runs] [intervalUs]
 *   node --import tsx bench/tools/cpuprofile-summary.ts bench/profiles/<contender>-<stamp>-run*.cpuprofile
 *
 * contender: a-raw (default) | a-json | b-serial | c-pqueue. The first run warms the JIT up and is
 * not profiled; each later run writes its own profile of the timed window (the summary tool
 * aggregates several files).
 *
 * With --heap (anywhere in the arguments), samples allocations instead (V8's sampling heap profiler,
 * objects collected by minor and major GCs included) and prints the top allocating functions in
 * bytes per event: `node --expose-gc --import tsx bench/profile.ts a-raw 1000000 2 --heap`.
 *
 * Whole-process profiles work too (`node --cpu-prof --cpu-prof-dir=bench/profiles --expose-gc
 * --import tsx bench/profile.ts a-raw 1000000 3 0`, intervalUs 0 disables the inspector), but they
 * include publishing and tsx's loader.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gc } from './lib/util.js';
import { uniformWorkload } from './lib/workload.js';
import { KEYS, runCore, type Name } from './scenarios/core.js';

const NAMES: readonly string[] = ['a-raw', 'a-json', 'b-serial', 'c-pqueue'];
const heap = process.argv.includes('--heap');
const positional = process.argv.slice(2).filter((a) => a !== '--heap');
const [contender = 'a-raw', eventsArg = '1000000', runsArg = '4', intervalArg = '100'] = positional;
if (!NAMES.includes(contender)) throw new Error(`contender must be one of ${NAMES.join(', ')}`);
const events = Number(eventsArg);
const runs = Number(runsArg);
const intervalUs = Number(intervalArg);

interface HeapNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly columnNumber: number };
  readonly selfSize: number;
  readonly children: readonly HeapNode[];
}

/** Allocation by function (bytes per event) over the timed window of the last run. */
async function heapMain(session: Session, workload: ReturnType<typeof uniformWorkload>): Promise<void> {
  let head: HeapNode | undefined;
  for (let i = 0; i < runs; i++) {
    gc();
    const last = i === runs - 1;
    await runCore(contender as Name, events, workload, undefined, {
      beforeStart: async () => {
        if (!last) return;
        await session.post('HeapProfiler.startSampling', {
          samplingInterval: 4096,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
      },
      afterDone: async () => {
        if (last) head = (await session.post('HeapProfiler.stopSampling')).profile.head as unknown as HeapNode;
      },
    });
  }
  const by = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapNode): void => {
    const f = n.callFrame;
    const where = f.url.replace(/^.*\/work\/main\//, '').replace(/^file:\/\//, '');
    const key = `${f.functionName === '' ? '(anonymous)' : f.functionName}  ${where === '' ? '(native)' : where}${f.functionName === '' ? `@col${f.columnNumber}` : ''}`;
    by.set(key, (by.get(key) ?? 0) + n.selfSize);
    total += n.selfSize;
    for (const c of n.children) walk(c);
  };
  if (head !== undefined) walk(head);
  process.stdout.write(`${contender}: ${(total / events).toFixed(0)} bytes allocated per event (sampled), top allocators:\n`);
  for (const [k, v] of [...by].sort((x, y) => y[1] - x[1]).slice(0, 20)) {
    process.stdout.write(`${(v / events).toFixed(0).padStart(6)} B/event ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}\n`);
  }
}

async function main(): Promise<void> {
  const workload = uniformWorkload(events, KEYS, 1);
  const session = new Session();
  session.connect();
  if (heap) {
    await heapMain(session, workload);
    session.disconnect();
    return;
  }
  await session.post('Profiler.enable');
  if (intervalUs > 0) await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'profiles');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  for (let i = 0; i < runs; i++) {
    gc();
    const profiled = intervalUs > 0 && i > 0;
    let file = '';
    const m = await runCore(contender as Name, events, workload, undefined, {
      beforeStart: async () => {
        if (profiled) await session.post('Profiler.start');
      },
      afterDone: async () => {
        if (!profiled) return;
        const { profile } = await session.post('Profiler.stop');
        file = join(dir, `${contender}-${stamp}-run${i + 1}.cpuprofile`);
        writeFileSync(file, JSON.stringify(profile));
      },
    });
    process.stdout.write(
      `${contender} run ${i + 1}: ${(m.rate! / 1e6).toFixed(3)} M events/s, GC ${m.gcMs!.toFixed(0)} ms of ${m.ms!.toFixed(0)} ms` +
        `${file === '' ? ' (not profiled)' : `, profile ${file}`}\n`,
    );
  }
  session.disconnect();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  },
);
