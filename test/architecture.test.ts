/**
 * The shape of src/ as ARCHITECTURE.md draws it, checked on the source text: arrows point down, there is no circle,
 * storage and the sealing layer see the domain only through its ports (type declarations), storage neither builds
 * catalogue errors nor splits a class across an inheritance chain.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve('src');

const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith('.ts') ? [path] : [];
  });

interface Edge {
  from: string;
  to: string;
  /** `import type …` or every specifier marked `type`: erased at run time */
  typeOnly: boolean;
}

/** Every relative import and re-export of a file, as src-relative paths. */
function edgesOf(file: string): Edge[] {
  const text = readFileSync(file, 'utf8');
  const edges: Edge[] = [];
  for (const m of text.matchAll(/^(import|export)\s+(type\s+)?([^;]*?)\s+from\s+'(\.[^']+)';/gm)) {
    const specifiers = m[3]
      .replace(/^\{|\}$/g, '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const typeOnly = m[2] !== undefined || (specifiers.length > 0 && specifiers.every((s) => s.startsWith('type ')));
    const to = relative(SRC, resolve(dirname(file), m[4])).replace(/\.js$/, '.ts');
    edges.push({ from: relative(SRC, file), to, typeOnly });
  }
  return edges;
}

const all = files(SRC).map((f) => relative(SRC, f));
const edges = files(SRC).flatMap(edgesOf);

describe('architecture', () => {
  test('the source tree is read (guards the checks below against an empty walk)', () => {
    assert.ok(all.length > 50, `only ${all.length} files under src`);
    assert.ok(
      edges.some((e) => e.from.startsWith('storage/') && e.to.startsWith('domain/ports/')),
      'storage implements the ports',
    );
  });

  test('every import names a file that exists', () => {
    const missing = edges.filter((e) => !all.includes(e.to)).map((e) => `${e.from} → ${e.to}`);
    assert.deepEqual(missing, []);
  });

  test('storage, the sealing layer and crypto import nothing above them but the ports, as types', () => {
    const below = /^(storage|sealing|crypto)\//;
    const above = /^(domain|http|keys)\/|^(app|cli|config|server|users-command|errors)\.ts$/;
    const wrong = edges
      .filter((e) => below.test(e.from) && above.test(e.to))
      .filter((e) => !(e.to.startsWith('domain/ports/') && e.typeOnly))
      .map((e) => `${e.from} → ${e.to}${e.typeOnly ? ' (type)' : ''}`);
    assert.deepEqual(wrong, []);
  });

  test('the ports declare types only', () => {
    const values = all
      .filter((f) => f.startsWith('domain/ports/'))
      .filter((f) => /^export\s+(const|function|class|let|enum)\b/m.test(readFileSync(join(SRC, f), 'utf8')));
    assert.deepEqual(values, []);
  });

  test('the domain does not import the HTTP layer', () => {
    assert.deepEqual(
      edges.filter((e) => e.from.startsWith('domain/') && e.to.startsWith('http/')).map((e) => `${e.from} → ${e.to}`),
      [],
    );
  });

  test('no circle among the modules (run-time imports)', () => {
    const next = new Map<string, string[]>();
    for (const e of edges.filter((x) => !x.typeOnly)) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (node: string, path: string[]): void => {
      if (state.get(node) === 'done') return;
      if (state.get(node) === 'open') {
        cycles.push([...path.slice(path.indexOf(node)), node].join(' → '));
        return;
      }
      state.set(node, 'open');
      for (const to of next.get(node) ?? []) visit(to, [...path, node]);
      state.set(node, 'done');
    };
    for (const f of all) visit(f, []);
    assert.deepEqual(cycles, []);
  });

  test('storage builds no catalogue error and splits no class across an inheritance chain', () => {
    const storage = all.filter((f) => f.startsWith('storage/'));
    const offenders = storage.filter((f) => {
      const text = readFileSync(join(SRC, f), 'utf8');
      return /\bfail\(/.test(text) || /\bclass\s+\w+\s+extends\s+(?!Error\b)\w+/.test(text);
    });
    assert.deepEqual(offenders, []);
  });
});
