// Builds dist/esm (ES modules) and dist/cjs (CommonJS) with tsc, so tslib is the helper runtime
// and declarations come from the compiler itself.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

rmSync(join(root, 'dist'), { recursive: true, force: true });
for (const project of ['tsconfig.esm.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', join(root, project)], { stdio: 'inherit' });
}
writeFileSync(join(root, 'dist', 'cjs', 'package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);

// Non-TypeScript assets (Lua scripts) travel next to the modules that load them.
function copyAssets(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) copyAssets(path);
    else if (name.endsWith('.lua')) {
      for (const format of ['esm', 'cjs']) {
        const target = join(root, 'dist', format, relative(join(root, 'src'), path));
        mkdirSync(dirname(target), { recursive: true });
        cpSync(path, target);
      }
    }
  }
}
if (existsSync(join(root, 'src'))) copyAssets(join(root, 'src'));
console.log('built dist/esm and dist/cjs');
