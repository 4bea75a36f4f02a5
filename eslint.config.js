// Lint, including the layering rules (STYLE.md habit 6):
//   protocol/          imports nothing of ours (only schema libraries)
//   electron/runtime/  never imports `electron` (it runs under plain Node: CLI, tests, browser mode)
//   renderer/          never imports Node built-ins, `electron` or electron/ code; only protocol/
//   cloud/             never imports electron/ or renderer/ (tests may use the runtime's client helpers)
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const nodeBuiltins = [
  'assert', 'buffer', 'child_process', 'cluster', 'crypto', 'dgram', 'dns', 'events', 'fs', 'fs/promises',
  'http', 'https', 'module', 'net', 'os', 'path', 'process', 'readline', 'stream', 'tls', 'url', 'util',
  'worker_threads', 'zlib',
];

const restrict = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export default tseslint.config(
  { ignores: ['node_modules/**', '.tmp/**', 'dist/**', 'out/**', 'test-results/**', 'playwright-report/**', '.data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['protocol/**/*.ts'],
    rules: restrict([
      { group: ['**/cloud/**', '**/electron/**', '**/renderer/**', 'electron', 'node:*'], message: 'protocol/ holds contracts only and imports nothing of ours.' },
    ]),
  },
  {
    files: ['electron/runtime/**/*.ts', 'electron/cli/**/*.ts', 'electron/browser-mode/**/*.ts'],
    rules: restrict([
      { group: ['electron', 'electron/*', 'electron-store'], message: 'The runtime core runs under plain Node: never import electron here.' },
      { group: ['**/cloud/**', '**/renderer/**'], message: 'The runtime talks to the cloud over HTTP only.' },
    ]),
  },
  {
    files: ['renderer/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: restrict([
      { group: ['electron', 'electron/*', '**/electron/**', '**/cloud/**', 'node:*', ...nodeBuiltins], message: 'The renderer talks only to window.runtime (protocol/desktop-api.ts).' },
    ]),
  },
  {
    files: ['cloud/src/**/*.ts'],
    rules: restrict([
      { group: ['**/electron/**', '**/renderer/**', 'electron'], message: 'The cloud does not depend on machine-side code.' },
    ]),
  },
);
