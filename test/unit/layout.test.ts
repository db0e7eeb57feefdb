import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GUEST, HOST, packageRoot, packageRootOf } from '../../src/layout.js';

/** Every file below a directory of the package whose name ends with one of `exts`. */
function filesUnder(dir: string, exts: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (exts.some((e) => name.endsWith(e))) out.push(path);
    }
  };
  walk(join(packageRoot, dir));
  return out;
}

/** The lines of a file that are not comments (`//`, ` * `, `#`, `<%#`). */
function codeLines(file: string): { line: number; text: string }[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((text, i) => ({ line: i + 1, text }))
    .filter(({ text }) => !/^\s*(\/\/|\/?\*|#|<%#)/.test(text));
}

describe('src/layout.ts defines every path', () => {
  it('the package root is a computation on the module path: src/, dist/src/ or the bundle in dist/cli/', () => {
    expect(packageRootOf('/opt/kv/src')).toBe('/opt/kv');
    expect(packageRootOf('/opt/kv/dist/src')).toBe('/opt/kv');
    expect(packageRootOf('/opt/kv/dist/cli')).toBe('/opt/kv');
    expect(packageRootOf('/home/me/src/kv/dist/cli')).toBe('/home/me/src/kv');
    expect(packageRootOf('/home/me/src/kv/src')).toBe('/home/me/src/kv');
    expect(() => packageRootOf('/opt/elsewhere/lib')).toThrow(/not inside src\/, dist\/src\/ or dist\/cli\//);
    expect(readFileSync(join(packageRoot, 'package.json'), 'utf8')).toMatch(/"name": "kubeadm-vagrant"/);
  });

  it("no other module or template spells a guest path of GUEST, or the host's Vagrantfile, itself", () => {
    const values = Object.values(GUEST).filter((v) => v.startsWith('/'));
    const found: string[] = [];
    for (const file of [...filesUnder('src', ['.ts']), ...filesUnder('templates', ['.ejs'])]) {
      if (file.endsWith('src/layout.ts')) continue;
      for (const { line, text } of codeLines(file)) {
        for (const v of values) {
          for (let at = text.indexOf(v); at >= 0; at = text.indexOf(v, at + 1)) {
            if (!/[\w/.-]/.test(text[at + v.length] ?? '')) found.push(`${relative(packageRoot, file)}:${line}: ${v}`);
          }
        }
        if (/['"`]Vagrantfile['"`]/.test(text)) found.push(`${relative(packageRoot, file)}:${line}: ${HOST.vagrantfile}`);
      }
    }
    expect(found).toEqual([]);
  });
});
