/**
 * The public API, pinned: every name each entry point exports, and whether it is a value or only a
 * type. Adding, removing or moving a name fails here until the snapshot is updated on purpose
 * (`npx vitest run test/public-api.test.ts -u`), and the CHANGELOG says it.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The package's entry points (its `exports` map) and the source file each is built from. */
function entryPoints(): Map<string, string> {
  const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
  const typedoc = JSON.parse(readFileSync(resolve(root, 'typedoc.json'), 'utf8')) as { entryPoints: string[] };
  const entries = new Map<string, string>();
  for (const subpath of Object.keys(pkg.exports)) {
    if (subpath === './package.json') continue;
    const name = subpath === '.' ? 'index' : subpath.slice(2);
    const source = typedoc.entryPoints.find((p) => p === `src/${name}.ts` || p === `src/${name}/index.ts`);
    entries.set(subpath, source === undefined ? '' : resolve(root, source));
  }
  return entries;
}

function exportedNames(files: readonly string[]): Map<string, string[]> {
  const options: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true };
  const program = ts.createProgram(files, options);
  const checker = program.getTypeChecker();
  const result = new Map<string, string[]>();
  for (const file of files) {
    const source = program.getSourceFile(file);
    const module = source === undefined ? undefined : checker.getSymbolAtLocation(source);
    if (module === undefined) throw new Error(`${file} is not a module`);
    const names = checker.getExportsOfModule(module).map((symbol) => {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      return `${symbol.name}${target.flags & ts.SymbolFlags.Value ? '' : ' (type)'}`;
    });
    result.set(file, names.sort());
  }
  return result;
}

describe('public API', () => {
  const entries = entryPoints();
  const names = exportedNames([...entries.values()].filter((f) => f !== ''));

  it('builds each entry point of the exports map from a documented source file', () => {
    const missing = [...entries].filter(([, file]) => file === '').map(([subpath]) => subpath);
    expect(missing).toEqual([]);
  });

  for (const [subpath, file] of entries) {
    it(`exports what it exported before from ${subpath}`, () => {
      expect(names.get(file)).toMatchSnapshot();
    });
  }

  it('exports each value from one entry point only (one way to import each thing)', () => {
    const seen = new Map<string, string[]>();
    for (const [subpath, file] of entries) {
      for (const name of names.get(file) ?? []) {
        if (name.endsWith(' (type)')) continue;
        seen.set(name, [...(seen.get(name) ?? []), subpath]);
      }
    }
    expect([...seen].filter(([, where]) => where.length > 1)).toEqual([]);
  });
});
