#!/usr/bin/env node
// Builds the web console (console/src) into dist/console: one hashed JavaScript file and one hashed CSS file under
// assets/, and index.html naming them. The hashes are of the contents, so the server can let browsers keep an asset
// for a year (immutable) while index.html, revalidated on every load, always names the current ones. No inline
// script or style: the console's Content-Security-Policy allows only files of its own origin.
//
// `npm run build` runs it after tsc (and `npm ci` runs that build through `prepare`). `--quiet` prints nothing;
// `--out DIR` builds into DIR instead of dist/console (the serving tests build their own copy).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const { values: flags } = parseArgs({ options: { out: { type: 'string' }, quiet: { type: 'boolean' } } });
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = flags.out ? resolve(flags.out) : join(root, 'dist', 'console');
const assets = join(out, 'assets');
const started = Date.now();

// Assets of an earlier build would pile up (each has another hash): start from an empty folder.
rmSync(out, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const result = await build({
  entryPoints: [join(root, 'console', 'src', 'main.tsx')],
  outdir: assets,
  entryNames: 'app.[hash]',
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome109', 'firefox115', 'safari15.6', 'edge109'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  // Nothing in the bundle may reach back to the build machine: no source maps with paths, no legal comments files.
  sourcemap: false,
  legalComments: 'none',
  charset: 'utf8',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
const js = outputs.find((name) => /^app\.[A-Z0-9]+\.js$/.test(name));
const css = outputs.find((name) => /^app\.[A-Z0-9]+\.css$/.test(name));
if (!js || !css || outputs.length !== 2) {
  console.error(`build-console: expected one app.<hash>.js and one app.<hash>.css, got ${outputs.join(', ')}`);
  process.exit(1);
}

const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>tokenkeep console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/assets/${css}">
<script type="module" src="/console/assets/${js}"></script>
</head>
<body>
<noscript>The tokenkeep console needs JavaScript. The API (/api) works without it.</noscript>
<div id="app"></div>
</body>
</html>
`;
writeFileSync(join(out, 'index.html'), html);

if (!flags.quiet) {
  const sizes = Object.entries(result.metafile.outputs)
    .map(([path, o]) => `${basename(path)} ${(o.bytes / 1024).toFixed(1)} KiB`)
    .join(', ');
  console.log(`console built into ${out} in ${Date.now() - started} ms: ${sizes}`);
}
