/** Where the embedded cloud keeps its PGlite database when no folder is given. */
import os from 'node:os';
import path from 'node:path';

export function defaultDataDir(): string {
  if (process.env.MACHINE_RUNTIME_HOME) return path.join(process.env.MACHINE_RUNTIME_HOME, 'cloud');
  const base =
    process.platform === 'win32'
      ? (process.env.APPDATA ?? path.join(os.homedir(), 'AppData', 'Roaming'))
      : process.platform === 'darwin'
        ? path.join(os.homedir(), 'Library', 'Application Support')
        : (process.env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local', 'share'));
  return path.join(base, 'machine-runtime', 'cloud');
}
