import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as generated from '../../src/redis/scripts.generated.js';

const root = join(import.meta.dirname, '..', '..');
const luaDir = join(root, 'src', 'redis', 'lua');

describe('Lua scripts', () => {
  it('src/redis/scripts.generated.ts is up to date with src/redis/lua/*.lua', () => {
    const check = spawnSync(process.execPath, [join(root, 'scripts', 'gen-lua.mjs'), '--check'], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('every script is named <name>-<keys>.lua, documents KEYS, ARGV and its reply, and ships with its SHA-1', () => {
    const files = readdirSync(luaDir).filter((f) => f.endsWith('.lua'));
    const scripts = Object.values(generated);
    expect(scripts).toHaveLength(files.length);
    for (const file of files) {
      const lua = readFileSync(join(luaDir, file), 'utf8');
      const [, name, keys] = /^(.+)-(\d+)\.lua$/.exec(file) ?? [];
      const script = scripts.find((s) => s.name === name);
      expect(script, file).toBeDefined();
      expect(script?.numKeys).toBe(Number(keys));
      expect(script?.lua).toBe(lua);
      expect(script?.sha1).toBe(createHash('sha1').update(lua).digest('hex'));
      expect(lua.startsWith(`--[[ ${file} — `), file).toBe(true);
      for (let i = 1; i <= Number(keys); i++) expect(lua, `${file} documents KEYS[${i}]`).toContain(`KEYS[${i}]`);
      expect(lua).toContain('Returns');
      // Every ARGV the script reads is documented in its opening comment.
      const comment = lua.slice(0, lua.indexOf(']]'));
      for (const [argv] of lua.matchAll(/ARGV\[\d+\]/g)) expect(comment, `${file} documents ${argv}`).toContain(argv);
    }
  });
});
