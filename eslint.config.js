// ESLint flat config. TypeScript files (src/, test/, *.config.ts) are linted with typescript-eslint's
// type-checked rules: in a network server a promise nobody awaits is a lost error or an unhandled
// rejection that kills the process, so no-floating-promises and no-misused-promises are errors.
// The .mjs scripts (bench/, examples/, scripts/, test helpers run as child processes) get the plain
// JavaScript rules with Node's globals. Formatting is Prettier's job (npm run format:check), so no
// stylistic rule is enabled here.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['dist/', 'coverage/', '.cache/', 'pki/', 'node_modules/', 'src/exposition/protobuf/gen/'],
  },
  {
    files: ['**/*.{js,mjs,cjs}'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // `_name` marks a binding kept for its position or to drop a key from a rest spread.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Test doubles implement async interfaces (MetricsSource.expose, Guard.handle, …) with
      // `async` methods that return a fixed value, exactly as the interface's callers expect.
      '@typescript-eslint/require-await': 'off',
      // vitest's asymmetric matchers (expect.any, expect.stringMatching, …) are typed `any` by
      // design and sit inside the expected objects; every such line would need a disable.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    // Last, so that it applies over the recommended sets above.
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Every control-character class in this code base is there to REJECT control characters
      // (header values, SANs, job names, user names); the rule flags exactly those.
      'no-control-regex': 'off',
      // A variable declared early so that a closure can name it, and assigned once later (a timer
      // the waiter clears, the server generation its listeners read), stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
);
