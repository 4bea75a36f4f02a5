#!/usr/bin/env node
// Bundles the Electron main process and the preload with esbuild:
//   dist/electron/main/main.js        (ESM, Node platform; npm packages stay external and are
//                                      packed by electron-builder from node_modules)
//   dist/electron/preload/preload.cjs (CommonJS, as sandboxed preloads must be; only `electron`
//                                      is external — a sandboxed preload can require nothing else)
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const at = (p) => path.join(root, p);

await Promise.all([
  build({
    entryPoints: [at('electron/main/main.ts')],
    outfile: at('dist/electron/main/main.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  }),
  build({
    entryPoints: [at('electron/preload/preload.ts')],
    outfile: at('dist/electron/preload/preload.cjs'),
    bundle: true,
    platform: 'browser',
    format: 'cjs',
    target: 'chrome120',
    external: ['electron'],
    sourcemap: true,
    logLevel: 'warning',
  }),
]);
console.log('built dist/electron/main/main.js and dist/electron/preload/preload.cjs');
