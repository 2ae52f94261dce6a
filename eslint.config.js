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
    ignores: ['dist/', 'coverage/', '.cache/', 'pki/', 'node_modules/'],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
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
    },
  },
);
