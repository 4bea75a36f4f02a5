#!/usr/bin/env node
// `npm test`: every suite, in order, with the services they need started here.
//   1. lint and type-check
//   2. unit + cloud suites on PGlite
//   3. the cloud suites again on a real PostgreSQL (a private cluster started for this run)
// On a fresh Debian machine, run as root, it first installs the system packages it needs.
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const isRoot = process.getuid?.() === 0;
const started = Date.now();
const results = [];

function step(name, command, args, env = {}) {
  process.stdout.write(`\n=== ${name} ===\n`);
  const t0 = Date.now();
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  const ok = result.status === 0;
  results.push({ name, ok, seconds: ((Date.now() - t0) / 1000).toFixed(1) });
  return ok;
}

function have(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function postgresBin() {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(path.join(root, v, 'bin', 'initdb'))) return path.join(root, v, 'bin');
  }
  return have('initdb') ? path.dirname(execFileSync('sh', ['-c', 'command -v initdb']).toString().trim()) : null;
}

function ensureSystemPackages() {
  const wanted = [];
  if (!postgresBin()) wanted.push('postgresql');
  if (!have('gnome-keyring-daemon')) wanted.push('gnome-keyring');
  if (!have('dbus-run-session')) wanted.push('dbus-x11');
  if (!existsSync(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium')) wanted.push('chromium');
  if (wanted.length === 0) return;
  if (!isRoot || !have('apt-get')) {
    console.warn(`missing system packages: ${wanted.join(' ')} (run as root on Debian to install them)`);
    return;
  }
  console.log(`installing ${wanted.join(' ')}…`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', ...wanted], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/** A throwaway PostgreSQL cluster on a free port, owned by `postgres` when we are root. */
function startPostgres() {
  const bin = postgresBin();
  if (!bin) return null;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mr-pg-'));
  chmodSync(dir, 0o777);
  const port = 55432 + Math.floor(Math.random() * 1000);
  const asPostgres = (args) =>
    isRoot ? ['runuser', ['-u', 'postgres', '--', ...args]] : [args[0], args.slice(1)];
  const run = (args) => {
    const [cmd, rest] = asPostgres(args);
    execFileSync(cmd, rest, { stdio: ['ignore', 'ignore', 'inherit'] });
  };
  const data = path.join(dir, 'data');
  run([path.join(bin, 'initdb'), '-D', data, '--auth=trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
  run([
    path.join(bin, 'pg_ctl'), '-D', data, '-l', path.join(dir, 'log'), '-w', 'start',
    '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300`,
  ]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      try {
        run([path.join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop']);
      } catch {
        /* already gone */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

ensureSystemPackages();

step('lint', 'npx', ['eslint', '.']);
step('type-check', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
step('unit and cloud suites (PGlite)', 'npx', ['vitest', 'run']);
// The Electron shell: build the renderer (scanned too), then Electronegativity, which fails on
// any HIGH or MEDIUM finding (scripts/electronegativity.mjs reads the tool's findings).
if (step('renderer build', 'npx', ['vite', 'build', '--logLevel', 'warn'])) {
  step('electronegativity', 'node', ['scripts/electronegativity.mjs']);
}

// End to end: the renderer in Debian's Chromium through browser mode, against a real cloud
// (e2e/playwright.config.ts; it uses the renderer just built).
if (existsSync(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium')) {
  step('end-to-end (Playwright, Chromium)', 'npx', ['playwright', 'test', '-c', 'e2e/playwright.config.ts']);
} else {
  results.push({ name: 'end-to-end (Playwright, Chromium)', ok: false, seconds: '0', note: 'needs Chromium at /usr/bin/chromium (apt-get install chromium) or CHROMIUM_PATH' });
}

// keytar against a real Secret Service: a throwaway gnome-keyring on a private D-Bus session,
// in a temporary HOME. The suite fails (never skips) here if keytar or the keychain is missing.
if (have('dbus-run-session') && have('gnome-keyring-daemon')) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'mr-keychain-'));
  try {
    step('keytar suite (gnome-keyring)', 'dbus-run-session', [
      '--', 'sh', '-c',
      'echo pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec npx vitest run --config electron/test/vitest.keychain.config.ts',
    ], {
      HOME: home,
      XDG_DATA_HOME: path.join(home, 'data'),
      XDG_CONFIG_HOME: path.join(home, 'config'),
      XDG_RUNTIME_DIR: mkdtempSync(path.join(home, 'run-')),
      MACHINE_RUNTIME_REQUIRE_KEYCHAIN: '1',
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
} else {
  results.push({ name: 'keytar suite (gnome-keyring)', ok: false, seconds: '0', note: 'needs dbus-run-session and gnome-keyring-daemon (apt-get install gnome-keyring dbus-x11)' });
}

const postgres = startPostgres();
if (postgres) {
  try {
    step('cloud suites (PostgreSQL)', 'npx', ['vitest', 'run', 'cloud/test'], { TEST_DATABASE_URL: postgres.url });
  } finally {
    postgres.stop();
  }
} else {
  results.push({ name: 'cloud suites (PostgreSQL)', ok: false, seconds: '0', note: 'PostgreSQL is not installed' });
}

console.log('\n=== summary ===');
for (const r of results) console.log(`${r.ok ? 'PASS' : 'FAIL'}  ${r.name}  (${r.seconds}s)${r.note ? `  ${r.note}` : ''}`);
console.log(`total ${((Date.now() - started) / 1000).toFixed(0)}s`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
