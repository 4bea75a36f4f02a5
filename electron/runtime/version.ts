/** The runtime's version, from package.json (reported in hello, status and the app). */
import { readFileSync } from 'node:fs';

// electron/runtime/version.ts in the source tree; dist/electron/main/main.js once bundled.
function readVersion(): string {
  for (const candidate of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'machine-runtime' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* try the next one */
    }
  }
  return '0.0.0';
}

export const RUNTIME_VERSION: string = readVersion();
