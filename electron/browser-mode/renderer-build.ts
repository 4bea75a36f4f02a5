/**
 * The built renderer (dist/renderer) for browser mode: built with Vite when it is missing or
 * older than its sources (renderer/, protocol/, vite.config.ts and the CSP it embeds). Vite runs in a child process so
 * the host stays small; concurrent builds of one checkout are serialised with a lock folder.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RENDERER_DIST = path.join(PROJECT_ROOT, 'dist', 'renderer');
// vite.config.ts imports the CSP it writes into the page.
const SOURCES = ['renderer', 'protocol', 'vite.config.ts', 'package.json', 'electron/main/content-security-policy.ts'];

async function newestMtime(target: string): Promise<number> {
  let stat;
  try {
    stat = await fs.stat(target);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of await fs.readdir(target)) {
    if (entry === 'node_modules' || entry.startsWith('.')) continue;
    newest = Math.max(newest, await newestMtime(path.join(target, entry)));
  }
  return newest;
}

/** True when dist/renderer/index.html is missing or older than a source file. */
export async function rendererIsStale(root = PROJECT_ROOT): Promise<boolean> {
  const built = await fs.stat(path.join(root, 'dist', 'renderer', 'index.html')).then((s) => s.mtimeMs, () => 0);
  if (built === 0) return true;
  for (const source of SOURCES) if ((await newestMtime(path.join(root, source))) > built) return true;
  return false;
}

/** Builds the renderer when stale; returns its folder. `log` gets one line when it builds. */
export async function ensureRendererBuilt(log: (line: string) => void = () => undefined, root = PROJECT_ROOT): Promise<string> {
  const dist = path.join(root, 'dist', 'renderer');
  if (!(await rendererIsStale(root))) return dist;
  const lock = path.join(root, 'dist', '.renderer-build.lock');
  await fs.mkdir(path.dirname(lock), { recursive: true });
  for (;;) {
    try {
      await fs.mkdir(lock);
      break;
    } catch {
      const age = Date.now() - (await fs.stat(lock).then((s) => s.mtimeMs, () => Date.now()));
      if (age > 120_000) await fs.rm(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    if (!(await rendererIsStale(root))) return dist; // another process built it meanwhile
    log('Building the renderer (vite build)…');
    const vite = path.join(root, 'node_modules', 'vite', 'bin', 'vite.js');
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`vite build failed (exit ${code}): ${stderr.trim().slice(-2000)}`))));
    });
    return dist;
  } finally {
    await fs.rm(lock, { recursive: true, force: true });
  }
}
