/**
 * The README is the front door: its error table lists every code of the catalogue with its HTTP status, its
 * configuration table lists every setting, and it shows the two set-up commands.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { catalogue } from '../src/errors.js';
import { settings } from '../src/config.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

test('every error of the catalogue is in the README with its code, status and kind', () => {
  for (const [kind, def] of Object.entries(catalogue)) {
    const row = new RegExp(`^\\| ${def.code} \\| ${def.status} \\| \`${kind}\` \\|`, 'm');
    assert.match(readme, row, `README error table lacks ${kind} (${def.code}, ${def.status})`);
  }
});

test('every setting is in the README configuration table with its flag', () => {
  for (const s of settings) {
    const row = new RegExp(`^\\| \`${s.env}\` \\| ${s.flag ? `\`--${s.flag}\`` : ''} ?\\|`, 'm');
    assert.match(readme, row, `README configuration table lacks ${s.env}`);
  }
});

test('the README starts with the two set-up commands', () => {
  assert.ok(readme.includes('npm ci && npm start'));
  assert.ok(readme.includes('npm ci && npm test'));
});
