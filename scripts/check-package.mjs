// Checks the package as users get it, from the tarball `npm pack` makes of the built dist/ (run
// `npm run build` first; `npm run lint:package` does):
// 1. are-the-types-wrong on every entry point, under node10, node16 (CJS and ESM) and bundler;
// 2. a consumer project compiled with `module: commonjs`, `moduleResolution: node10` imports every
//    entry point's types (scripts/package-check/node10.ts);
// 3. every source map carries the sources it maps (src/ is not in the package);
// 4. without `@opentelemetry/api`, `require('exclusive-consumer/otel')` says what to install;
// 5. the `exclusive-consumer` bin runs from the package: `check` exits 0 on a clean run log and 1
//    on one with an overlap.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const failures = [];
const check = (what, ok, detail = '') => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok || detail === '' ? '' : `\n     ${detail.replaceAll('\n', '\n     ')}`}`);
  if (!ok) failures.push(what);
};

const work = mkdtempSync(join(tmpdir(), 'ec-package-'));
try {
  const [{ filename, files }] = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' }),
  );
  const tarball = join(work, filename);
  const unpack = (dir) => {
    mkdirSync(dir, { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', dir, '--strip-components=1']);
    return dir;
  };

  // 1. Default (strict) profile: node10 included, so typesVersions must cover the subpaths.
  const attw = spawnSync(bin('attw'), [tarball], { encoding: 'utf8' });
  check('are-the-types-wrong: every entry point under node10, node16 and bundler', attw.status === 0, attw.stdout + attw.stderr);

  // 2. Inside the repository, so that the peers' types (ioredis, pg, @opentelemetry/api) resolve
  //    from its node_modules; the package itself comes from the tarball, next to the project.
  const project = join(root, '.package-check');
  rmSync(project, { recursive: true, force: true });
  unpack(join(project, 'node_modules', 'exclusive-consumer'));
  copyFileSync(join(root, 'scripts', 'package-check', 'node10.ts'), join(project, 'index.ts'));
  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'node10-consumer', private: true, type: 'commonjs' })}\n`);
  writeFileSync(
    join(project, 'tsconfig.json'),
    `${JSON.stringify(
      {
        compilerOptions: {
          module: 'commonjs',
          moduleResolution: 'node10',
          target: 'ES2022',
          lib: ['ES2023'],
          types: ['node'],
          typeRoots: [join(root, 'node_modules', '@types')],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          esModuleInterop: true,
        },
        files: ['index.ts'],
      },
      null,
      2,
    )}\n`,
  );
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { encoding: 'utf8' });
  check('a moduleResolution node10 project compiles against every entry point', tsc.status === 0, tsc.stdout + tsc.stderr);
  rmSync(project, { recursive: true, force: true });

  // 3.
  const maps = files.map((f) => f.path).filter((path) => path.endsWith('.map'));
  const unpacked = unpack(join(work, 'package'));
  const bare = maps.filter((path) => {
    const map = JSON.parse(readFileSync(join(unpacked, path), 'utf8'));
    const content = map.sourcesContent ?? [];
    return content.length !== map.sources.length || content.some((text) => typeof text !== 'string' || text.length === 0);
  });
  check(`every source map (${maps.length}) inlines its sources`, maps.length > 0 && bare.length === 0, bare.slice(0, 10).join('\n'));
  // A declaration map cannot inline its sources, and one pointing at the missing src/ only breaks
  // go-to-definition: declarations ship without them.
  check('no declaration map (it would point at the unshipped src/)', !maps.some((path) => path.endsWith('.d.ts.map')));

  // 4. Outside the repository, so that nothing finds its node_modules: only tslib is installed.
  const app = join(work, 'app');
  unpack(join(app, 'node_modules', 'exclusive-consumer'));
  symlinkSync(join(root, 'node_modules', 'tslib'), join(app, 'node_modules', 'tslib'), 'dir');
  const run = (code, type) =>
    spawnSync(process.execPath, [`--input-type=${type}`, '-e', code], { cwd: app, encoding: 'utf8' });
  const required = run("require('exclusive-consumer/otel')", 'commonjs');
  check(
    "require('exclusive-consumer/otel') without @opentelemetry/api says what to install",
    required.status !== 0 && required.stderr.includes('npm install @opentelemetry/api') && required.stderr.includes('EC_CONFIGURATION'),
    required.stderr.split('\n').slice(0, 8).join('\n'),
  );
  const imported = run("await import('exclusive-consumer/otel')", 'module');
  check(
    "import('exclusive-consumer/otel') without @opentelemetry/api names the package",
    imported.status !== 0 && imported.stderr.includes("'@opentelemetry/api'"),
    imported.stderr.split('\n').slice(0, 8).join('\n'),
  );
  for (const [code, type] of [
    ["require('exclusive-consumer'); require('exclusive-consumer/adapters')", 'commonjs'],
    ["await import('exclusive-consumer'); await import('exclusive-consumer/adapters')", 'module'],
  ]) {
    const loaded = run(code, type);
    check(`the root and adapters load with no optional peer installed (${type})`, loaded.status === 0, loaded.stderr);
  }

  // 5. The bin as npm links it (the package's `bin` entry), with only tslib installed.
  const manifest = JSON.parse(readFileSync(join(app, 'node_modules', 'exclusive-consumer', 'package.json'), 'utf8'));
  const cli = join(app, 'node_modules', 'exclusive-consumer', manifest.bin['exclusive-consumer']);
  const shebang = readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node\n');
  const runs = (second) =>
    [
      { ev: 'start', run: 'a:1', consumer: 'a', key: 'k', messages: [{ id: 'm1', seq: 1 }], t: 1000, clock: 'wall' },
      { ev: 'end', run: 'a:1', ok: true, t: 2000 },
      { ev: 'start', run: 'b:1', consumer: 'b', key: 'k', messages: [{ id: 'm2', seq: 2 }], t: second, clock: 'wall' },
      { ev: 'end', run: 'b:1', ok: true, t: second + 1000 },
    ]
      .map((line) => JSON.stringify(line))
      .join('\n');
  writeFileSync(join(work, 'clean.jsonl'), `${runs(2000)}\n`);
  writeFileSync(join(work, 'overlap.jsonl'), `${runs(1500)}\n`);
  const checkCli = (file) => spawnSync(process.execPath, [cli, 'check', join(work, file)], { cwd: app, encoding: 'utf8' });
  const clean = checkCli('clean.jsonl');
  const overlap = checkCli('overlap.jsonl');
  check(
    'the exclusive-consumer bin checks run logs: exit 0 when clean, 1 on an overlap',
    shebang && clean.status === 0 && overlap.status === 1 && /overlaps: 1\b/.test(overlap.stdout),
    `shebang ${shebang}; clean: ${clean.status} ${clean.stdout}${clean.stderr}; overlap: ${overlap.status} ${overlap.stdout}${overlap.stderr}`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}

if (failures.length > 0) {
  console.error(`\n${failures.length} package check(s) failed`);
  process.exit(1);
}
console.log('\npackage checks passed');
