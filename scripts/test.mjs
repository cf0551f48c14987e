#!/usr/bin/env node
// Runs every test file under test/ with Node's test runner through tsx. Node 20 neither finds .ts files in a
// folder nor expands a quoted glob, so the files are listed here; a run that finds none fails instead of passing.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const find = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? find(path) : name.endsWith('.test.ts') ? [path] : [];
  });

const only = process.argv.slice(2);
const files = only.length > 0 ? only : find('test').sort();
if (files.length === 0) {
  console.error('no test files found under test/');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
