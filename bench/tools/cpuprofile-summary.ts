/**
 * Summarize a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time, and self time
 * per source file.
 *
 *   node --import tsx bench/tools/cpuprofile-summary.ts [--top N] [--callers NAME] <file.cpuprofile>...
 *
 * Several files (e.g. one per run) are added up. `--callers NAME` also lists, for functions whose
 * label contains NAME, the self time they spend by calling stack (three frames up).
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
  readonly columnNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

// Piped into `head`: stop quietly when the reader goes away.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const args = process.argv.slice(2);
let top = 30;
let callersOf: string | undefined;
const files: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i]);
  else if (args[i] === '--callers') callersOf = args[++i];
  else files.push(args[i]!);
}
if (files.length === 0) {
  process.stderr.write('Usage: node --import tsx bench/tools/cpuprofile-summary.ts [--top N] <file.cpuprofile>...\n');
  process.exit(2);
}

function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const at = url.indexOf('/work/main/');
  const path = at >= 0 ? url.slice(at + '/work/main/'.length) : url.replace(/^file:\/\//, '');
  return path.replace(/^node_modules\//, 'nm/');
}

/**
 * `name  file:line`. Code loaded through tsx is one generated line per module, so its line is
 * useless: named functions get the file alone, anonymous ones the generated column.
 */
function label(frame: CallFrame): string {
  const anonymous = frame.functionName === '';
  const name = anonymous ? '(anonymous)' : frame.functionName;
  if (frame.url === '') return name;
  const where =
    frame.lineNumber > 0 ? `:${frame.lineNumber + 1}` : anonymous ? `@col${frame.columnNumber}` : '';
  return `${name}  ${shortUrl(frame.url)}${where}`;
}

const selfByStack = new Map<string, number>();
const selfByFn = new Map<string, number>();
const selfByFile = new Map<string, number>();
const totalByFn = new Map<string, number>();
let total = 0;
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfByNode = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const dt = profile.timeDeltas[i] ?? 0;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + dt);
    total += dt;
  }
  for (const [id, self] of selfByNode) {
    const node = byId.get(id)!;
    const key = label(node.callFrame);
    selfByFn.set(key, (selfByFn.get(key) ?? 0) + self);
    const f = shortUrl(node.callFrame.url);
    selfByFile.set(f, (selfByFile.get(f) ?? 0) + self);
    if (callersOf !== undefined && key.includes(callersOf)) {
      const stack: string[] = [];
      for (let n = parent.get(id); n !== undefined && stack.length < 3; n = parent.get(n)) {
        stack.push(label(byId.get(n)!.callFrame));
      }
      const k = `${key}  <-  ${stack.join('  <-  ')}`;
      selfByStack.set(k, (selfByStack.get(k) ?? 0) + self);
    }
    // Inclusive time: charge every distinct function on the stack once.
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const k = label(byId.get(n)!.callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      totalByFn.set(k, (totalByFn.get(k) ?? 0) + self);
    }
  }
}

const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const ms = (us: number): string => `${(us / 1000).toFixed(0).padStart(7)} ms`;
const sorted = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]);

process.stdout.write(`${files.length} profile(s): ${(total / 1000).toFixed(0)} ms sampled\n\nTop ${top} by self time:\n`);
for (const [k, v] of sorted(selfByFn).slice(0, top)) process.stdout.write(`${pct(v)} ${ms(v)}  ${k}\n`);
process.stdout.write('\nSelf time by file:\n');
for (const [k, v] of sorted(selfByFile).slice(0, 20)) process.stdout.write(`${pct(v)} ${ms(v)}  ${k}\n`);
process.stdout.write(`\nTop ${top} by inclusive time (project code):\n`);
for (const [k, v] of sorted(totalByFn)
  .filter(([k]) => k.includes('src/') || k.includes('bench/') || k.includes('nm/'))
  .slice(0, top)) {
  process.stdout.write(`${pct(v)} ${ms(v)}  ${k}\n`);
}
if (callersOf !== undefined) {
  process.stdout.write(`\nSelf time of "${callersOf}" by caller:\n`);
  for (const [k, v] of sorted(selfByStack).slice(0, top)) process.stdout.write(`${pct(v)} ${ms(v)}  ${k}\n`);
}
