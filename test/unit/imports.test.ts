import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/layout.js';

/** Every module of src/ and the relative modules it imports, `import type` included (a cycle of types is still a knot to untie). */
function importGraph(): Map<string, string[]> {
  const src = join(packageRoot, 'src');
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) files.push(path);
    }
  };
  walk(src);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const deps = [...text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gms)].map((m) => resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
    graph.set(relative(packageRoot, file), deps.map((d) => relative(packageRoot, d)));
  }
  return graph;
}

/** The import cycles of a graph, each as the modules around it. */
function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (m: string) => {
    state.set(m, 'open');
    stack.push(m);
    for (const d of graph.get(m) ?? []) {
      if (!graph.has(d)) continue;
      if (state.get(d) === 'open') found.push([...stack.slice(stack.indexOf(d)), d].join(' → '));
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(m, 'done');
  };
  for (const m of graph.keys()) if (!state.has(m)) visit(m);
  return found;
}

describe('the module graph', () => {
  it('finds a cycle where there is one (the check itself)', () => {
    expect(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toEqual(['a → b → c → a']);
  });

  it('src/ has no import cycle, types included (config → providers → doctor → plan → config was one)', () => {
    const graph = importGraph();
    expect(graph.get('src/config/schema.ts')).toContain('src/providers/index.ts');
    expect(cycles(graph)).toEqual([]);
  });

  it('the config and the plan reach no host check: the provider descriptors import none', () => {
    const graph = importGraph();
    const reach = (from: string, seen = new Set<string>()): Set<string> => {
      for (const d of graph.get(from) ?? []) if (!seen.has(d)) reach(d, seen.add(d));
      return seen;
    };
    for (const root of ['src/config/schema.ts', 'src/plan/plan.ts']) {
      expect([...reach(root)].filter((m) => m.startsWith('src/doctor/') || m.endsWith('-host.ts')), root).toEqual([]);
    }
  });
});
