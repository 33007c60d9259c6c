// The lint rules twin6 enforces, and why each (docs/style.md §4). Formatting is
// Prettier's (.prettierrc.json); nothing here is about layout.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The pure core: same input, same output; time and randomness come from the caller. */
const PURE_CORE = ['src/wire/**/*.ts', 'src/engine/**/*.ts'];

export default tseslint.config(
  { ignores: ['dist/**', '.build/**', 'node_modules/**', 'test/peer/**'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A promise nobody awaits loses its error: in a daemon that is a lease write failing silently.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      // A switch over a union (message types, states, statuses) must name every member.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    files: PURE_CORE,
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'The core takes the time from its caller (docs/architecture.md §1).' },
        { object: 'Math', property: 'random', message: 'The core takes randomness from its caller (docs/architecture.md §1).' },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'No timers in the core (docs/architecture.md §1).' },
        { name: 'setInterval', message: 'No timers in the core (docs/architecture.md §1).' },
      ],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', '!node:assert', 'fs', 'net', 'dgram', 'child_process'],
              message: 'No I/O in the core (docs/architecture.md §1).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**', 'src/testing/**'],
    // The product logs through pino; a console line would bypass levels and the log's structure.
    rules: { 'no-console': 'error' },
  },
);
