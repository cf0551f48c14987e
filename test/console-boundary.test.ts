/**
 * The web console is a client of the API, built apart from the server: its sources (console/src) import only each
 * other and Preact, and nothing under src/ imports them. So the browser bundle carries no server code, and the server
 * none of the console's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const files = (dir: string, ext: RegExp): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path, ext) : ext.test(name) ? [path] : [];
  });

const specifiers = (file: string): string[] =>
  [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)';|^import\s+'([^']+)';/gm)].map((m) => m[1] ?? m[2]);

const CONSOLE = resolve('console', 'src');

test('console/src imports only itself and Preact', () => {
  const sources = files(CONSOLE, /\.tsx?$/);
  assert.ok(sources.length > 15, `only ${sources.length} console sources found`);
  let imports = 0;
  for (const file of sources) {
    for (const spec of specifiers(file)) {
      imports++;
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec);
        assert.ok(!relative(CONSOLE, target).startsWith('..'), `${relative(CONSOLE, file)} imports ${spec}, outside console/src`);
      } else {
        assert.match(spec, /^preact(?:\/hooks)?$/, `${relative(CONSOLE, file)} imports ${spec}`);
      }
    }
  }
  assert.ok(imports > 50, `only ${imports} imports read`);
});

test('nothing under src/ imports the console’s sources', () => {
  for (const file of files(resolve('src'), /\.ts$/)) {
    for (const spec of specifiers(file)) assert.ok(!/(^|\/)console\/src\b/.test(spec), `${relative('.', file)} imports ${spec}`);
  }
});
