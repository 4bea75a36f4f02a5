import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import type { DesktopState } from '../../protocol/desktop-api.ts';

/**
 * `npm start -- --no-open` as a person runs it (scripts/start.ts in its own process): one line
 * on stdout with the address and token, an embedded cloud in the profile, the renderer and the
 * bridge behind the token; Ctrl-C stops it; the next launch finds the same cloud and session.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let home: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'mr-start-'));
  const idFile = path.join(home, 'machine-id');
  writeFileSync(idFile, 'npm-start-test-machine-0000000000\n');
  env = {
    ...process.env,
    MACHINE_RUNTIME_HOME: path.join(home, 'profile'),
    MACHINE_RUNTIME_SECRET_STORE: 'file',
    MACHINE_RUNTIME_MACHINE_ID_FILE: idFile,
    MACHINE_RUNTIME_BROWSER_MODE: '1',
    MACHINE_RUNTIME_SERVER: '',
  };
});

afterAll(() => {
  rmSync(home, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
}

function start(): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts', '--no-open'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start printed nothing in time; stderr:\n${stderr}`)), 90_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /^Machine Runtime is running at (http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+)\n/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]!, stdout: () => stdout, stderr: () => stderr });
      }
    });
    child.once('exit', (code) => reject(new Error(`npm start exited with ${code}; stderr:\n${stderr}`)));
  });
}

function stop(started: Started, signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
  return new Promise((resolve) => {
    started.child.once('exit', (code) => resolve(code));
    started.child.kill(signal);
  });
}

async function bridgeCall<T>(pageUrl: string, method: string, params?: object): Promise<T> {
  const url = new URL(pageUrl);
  const socket = new WebSocket(`ws://${url.host}/bridge?token=${url.searchParams.get('token')}`, { origin: url.origin });
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  try {
    return await new Promise<T>((resolve, reject) => {
      socket.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString()) as { id?: number; result?: T; error?: unknown };
        if (message.id !== 1) return;
        if (message.error) reject(message.error);
        else resolve(message.result as T);
      });
      socket.send(JSON.stringify({ id: 1, method, ...(params ? { params } : {}) }));
    });
  } finally {
    socket.close();
  }
}

describe('npm start (browser mode)', () => {
  let cloudUrl: string;

  it('prints one line with the address; serves the app behind the token with an embedded cloud', async () => {
    const started = await start();
    try {
      expect(started.stdout().trim().split('\n')).toHaveLength(1);
      const page = await fetch(started.url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<div id="root"></div>');
      expect((await fetch(started.url.replace(/\?token=.*/, ''))).status).toBe(401);

      const state = await bridgeCall<DesktopState>(started.url, 'getState');
      cloudUrl = state.serverUrl!;
      expect(cloudUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(state.user).toBeNull();
      const health = (await (await fetch(`${cloudUrl}/api/v1/health`)).json()) as { status: string };
      expect(health.status).toBe('ok');
      expect(existsSync(path.join(home, 'profile', 'cloud'))).toBe(true);

      const signedIn = await bridgeCall<DesktopState>(started.url, 'setupServer', {
        serverUrl: cloudUrl,
        email: 'first@example.com',
        password: 'first password 1',
        displayName: 'First Admin',
      });
      expect(signedIn.user?.email).toBe('first@example.com');
      expect(started.stderr()).toContain(`Server: embedded cloud at ${cloudUrl}`);
    } finally {
      expect(await stop(started), started.stderr()).toBe(0);
    }
    expect(readFileSync(path.join(home, 'profile', 'logs', 'machine-runtime.log'), 'utf8')).toContain('Machine Runtime stopped');
  });

  it('the next launch finds the same cloud, on the same port, still signed in; SIGTERM stops it too', async () => {
    const started = await start();
    try {
      const state = await bridgeCall<DesktopState>(started.url, 'getState');
      expect(state.serverUrl).toBe(cloudUrl);
      expect(state.user?.email).toBe('first@example.com');
      expect(await bridgeCall(started.url, 'needsSetup', { serverUrl: cloudUrl })).toEqual({ needsSetup: false });
    } finally {
      expect(await stop(started, 'SIGTERM'), started.stderr()).toBe(0);
    }
    await expect(fetch(`${cloudUrl}/api/v1/health`)).rejects.toThrow();
  });
});
