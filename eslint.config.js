// ESLint flat config: @eslint/js and typescript-eslint's recommended sets (not the type-checked set, so that
// `npm test` stays fast). Rules are tuned here, each with the reason, rather than silenced line by line.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.tmp/', 'data/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // The plain-JavaScript files (scripts/test.mjs, this file) run on Node; the `globals` package is not a
    // dependency, so the few Node globals they use are named here. TypeScript files need none: tsc checks them.
    files: ['**/*.{js,mjs}'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
  },
  {
    rules: {
      // A leading underscore marks a name kept on purpose: rest-destructuring that drops a field (`version: _version`),
      // a positional parameter a signature requires, an env entry taken out of `...rest`.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    // Tests and the benchmark read parsed JSON replies (`JSON.parse`, `res.json()`), whose shape the assertions check.
    files: ['test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
