#!/usr/bin/env node
// Electronegativity (Doyensec) over the Electron shell and the built renderer. The tool exits 0
// whatever it finds, so this script reads its findings and fails on any HIGH or MEDIUM one.
//   node scripts/electronegativity.mjs [--out DIR]      (reports: DIR/electronegativity.{sarif,csv})
// Offline by construction: AvailableSecurityFixesGlobalCheck (it queries the internet for
// Electron releases) is excluded, and the tool's translation download is answered locally.
// Its CLI is broken by the hoisted commander 14, so the programmatic runner is used.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, cpSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outIndex = process.argv.indexOf('--out');
const outDir = path.resolve(outIndex > 0 ? process.argv[outIndex + 1] : path.join(root, 'test-results', 'electronegativity'));
const EXCLUDED = ['AvailableSecurityFixesGlobalCheck'];
const FAIL_ON = new Set(['HIGH', 'MEDIUM']);

// The tool fetches translations with `got` at start-up; keep it offline.
const Module = require('node:module');
const originalLoad = Module._load;
Module._load = function load(request, parent, ...rest) {
  if (request === 'got' && parent?.filename?.includes(`${path.sep}electronegativity${path.sep}`)) {
    return () => Promise.reject(new Error('offline'));
  }
  return originalLoad.call(this, request, parent, ...rest);
};

// What is scanned: the shell's sources (not its unit tests, which mock Electron on purpose),
// the protocol it imports, the built renderer when present, and package.json. The main/preload
// bundles in dist/electron are built from these sources (and lose their reviewed
// `eng-disable` annotations), so the sources are what is scanned.
const scanRoot = mkdtempSync(path.join(os.tmpdir(), 'mr-electronegativity-'));
const sources = [
  ['electron/main', 'electron/main'],
  ['electron/preload', 'electron/preload'],
  ['protocol/desktop-api.ts', 'protocol/desktop-api.ts'],
  ['dist/renderer', 'dist/renderer'],
  ['package.json', 'package.json'],
];
const scanned = [];
for (const [from, to] of sources) {
  const source = path.join(root, from);
  if (!existsSync(source)) continue;
  cpSync(source, path.join(scanRoot, to), { recursive: true });
  scanned.push(from);
}

const electronVersion = JSON.parse(readFileSync(path.join(root, 'node_modules', 'electron', 'package.json'), 'utf8')).version;
const run = require('@doyensec/electronegativity/dist/runner.js');
const quiet = console.log;
console.log = (...args) => {
  if (!String(args[0]).startsWith('Could not retrieve updated translations')) quiet(...args);
};

mkdirSync(outDir, { recursive: true });
let result;
try {
  const base = {
    input: scanRoot,
    isRelative: true,
    severitySet: 'INFORMATIONAL',
    confidenceSet: 'TENTATIVE',
    excludeFromScan: EXCLUDED,
    electronVersionOverride: electronVersion,
    parserPlugins: [],
  };
  result = await run({ ...base, output: path.join(outDir, 'electronegativity.sarif'), isSarif: true });
  await run({ ...base, output: path.join(outDir, 'electronegativity.csv'), isSarif: false });
} finally {
  console.log = quiet;
  rmSync(scanRoot, { recursive: true, force: true });
}

const nameOf = (level) => (typeof level?.name === 'string' ? level.name : String(level?.format?.() ?? level)).toUpperCase();
const findings = result.issues.map((issue) => ({
  id: issue.id,
  severity: nameOf(issue.severity),
  confidence: nameOf(issue.confidence),
  file: issue.file,
  line: issue.location?.line,
  description: issue.description,
  manualReview: Boolean(issue.manualReview),
}));
const blocking = findings.filter((f) => FAIL_ON.has(f.severity));
const hardErrors = result.errors.filter((e) => !e.tolerable);

console.log(`electronegativity ${electronVersion ? `(Electron ${electronVersion}) ` : ''}scanned ${scanned.join(', ')}`);
console.log(`${result.globalChecks + result.atomicChecks} checks, ${findings.length} findings, excluded: ${EXCLUDED.join(', ')}`);
for (const f of findings) {
  console.log(`  ${FAIL_ON.has(f.severity) ? 'FAIL' : 'info'} ${f.severity}/${f.confidence} ${f.id} ${f.file}:${f.line ?? '?'}${f.manualReview ? ' (review)' : ''}`);
}
for (const e of hardErrors) console.log(`  parse error in ${e.file}: ${e.message}`);
console.log(`reports: ${path.join(outDir, 'electronegativity.sarif')}, ${path.join(outDir, 'electronegativity.csv')}`);
if (blocking.length > 0) {
  console.error(`electronegativity: ${blocking.length} HIGH or MEDIUM finding(s)`);
  process.exit(1);
}
if (scanned.length === 0) {
  console.error('electronegativity: nothing to scan');
  process.exit(1);
}
console.log('electronegativity: no HIGH or MEDIUM finding');
