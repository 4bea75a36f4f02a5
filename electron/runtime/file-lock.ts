/**
 * A lock between processes that share a profile folder (the CLI, the agent, the desktop app),
 * held while a refresh token is rotated: two processes using the same refresh token at once
 * would look like a stolen token to the cloud, which then signs the user out everywhere.
 * A lock file created with O_EXCL; one older than `staleMs` was left by a crashed process.
 */
import { promises as fs, constants as fsConstants } from 'node:fs';
import path from 'node:path';

export interface FileLockOptions {
  /** Give up after this long (default 15 s). */
  timeoutMs?: number;
  /** A lock file older than this is taken over (default 30 s). */
  staleMs?: number;
  pollMs?: number;
}

export async function withFileLock<T>(file: string, fn: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const { timeoutMs = 15_000, staleMs = 30_000, pollMs = 50 } = options;
  const deadline = Date.now() + timeoutMs;
  await fs.mkdir(path.dirname(file), { recursive: true });
  for (;;) {
    try {
      const handle = await fs.open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const stat = await fs.stat(file).catch(() => null);
      if (stat && Date.now() - stat.mtimeMs > staleMs) {
        await fs.rm(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another process holds ${file}; try again (or delete it if no other process runs)`);
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(file, { force: true });
  }
}
