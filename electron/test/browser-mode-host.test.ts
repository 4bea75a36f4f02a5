import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { startBrowserHost, type BrowserHost } from '../browser-mode/host.ts';
import { createDesktopService, type DesktopService } from '../runtime/desktop-service.ts';

/**
 * The browser-mode host in front of a real desktop service (a fresh profile, no cloud): who
 * may load the page and open the bridge, and what happens to a call on its way to the service.
 */
let root: string;
let service: DesktopService;
let host: BrowserHost;

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'mr-browser-host-'));
  const rendererDir = path.join(root, 'renderer');
  mkdirSync(path.join(rendererDir, 'assets'), { recursive: true });
  writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>Machine Runtime</title><script type="module" src="./assets/app.js"></script>');
  writeFileSync(path.join(rendererDir, 'assets', 'app.js'), 'console.log("app")');
  writeFileSync(path.join(root, 'secret.txt'), 'outside the renderer');
  service = await createDesktopService({ profileDir: path.join(root, 'profile'), profile: { secretStore: 'memory', settings: 'memory', env: {} } });
  host = await startBrowserHost({ service, rendererDir });
});

afterAll(async () => {
  await host?.close();
  await service?.dispose();
  rmSync(root, { recursive: true, force: true });
});

function get(pathAndQuery: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port: host.port, path: pathAndQuery, headers }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('error', reject);
  });
}

/** Opens the bridge; resolves with the socket, or with the HTTP status of the refusal. */
function openBridge(query: string, origin: string | null = host.origin): Promise<{ socket?: WebSocket; status?: number }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${host.port}/bridge${query}`, origin ? { origin } : {});
    socket.once('open', () => resolve({ socket }));
    socket.once('unexpected-response', (_request, response) => {
      resolve({ status: response.statusCode ?? 0 });
      socket.terminate();
    });
    socket.once('error', (error) => {
      if (socket.readyState !== WebSocket.CLOSED) reject(error);
    });
  });
}

function call(socket: WebSocket, message: object): Promise<Record<string, unknown>> {
  const { id } = message as { id: number };
  return new Promise((resolve) => {
    const onMessage = (data: Buffer) => {
      const parsed = JSON.parse(data.toString()) as Record<string, unknown>;
      if (parsed.id === id) {
        socket.off('message', onMessage);
        resolve(parsed);
      }
    };
    socket.on('message', onMessage);
    socket.send(JSON.stringify(message));
  });
}

describe('browser-mode host: the page', () => {
  it('listens on 127.0.0.1 and gives an address that carries the token', () => {
    expect(host.origin).toBe(`http://127.0.0.1:${host.port}`);
    expect(host.url).toBe(`${host.origin}/?token=${host.token}`);
    expect(host.token.length).toBeGreaterThanOrEqual(40);
  });

  it('refuses the page without the token, or with a wrong one', async () => {
    expect((await get('/')).status).toBe(401);
    expect((await get('/index.html')).status).toBe(401);
    expect((await get('/?token=wrong')).status).toBe(401);
    expect((await get(`/?token=${host.token}x`)).status).toBe(401);
    expect((await get('/assets/app.js')).status).toBe(401);
  });

  it('serves the page with the token, with a strict CSP, and lets its assets load by cookie', async () => {
    const page = await get(`/?token=${host.token}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>Machine Runtime</title>');
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    const cookie = String(page.headers['set-cookie']?.[0]);
    expect(cookie).toMatch(new RegExp(`^mr_token_${host.port}=`));
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    const asset = await get('/assets/app.js', { cookie: cookie.split(';')[0]! });
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toMatch(/^text\/javascript/);
    expect((await get('/assets/app.js', { cookie: `mr_token_${host.port}=nope` })).status).toBe(401);
  });

  it('refuses another Host (DNS rebinding) and paths outside the renderer', async () => {
    expect((await get(`/?token=${host.token}`, { host: `evil.example:${host.port}` })).status).toBe(403);
    expect((await get(`/?token=${host.token}`, { host: `localhost:${host.port}` })).status).toBe(200);
    expect((await get(`/../secret.txt?token=${host.token}`)).status).toBe(404);
    expect((await get(`/%2e%2e/secret.txt?token=${host.token}`)).status).toBe(404);
    expect((await get(`/missing.js?token=${host.token}`)).status).toBe(404);
  });
});

describe('browser-mode host: the bridge', () => {
  it('refuses a connection without the token or with a wrong one (401)', async () => {
    expect(await openBridge('')).toEqual({ status: 401 });
    expect(await openBridge('?token=')).toEqual({ status: 401 });
    expect(await openBridge('?token=guess')).toEqual({ status: 401 });
  });

  it('refuses a foreign Origin, or none, even with the token (403)', async () => {
    expect(await openBridge(`?token=${host.token}`, 'http://evil.example')).toEqual({ status: 403 });
    expect(await openBridge(`?token=${host.token}`, `http://127.0.0.1:${host.port + 1}`)).toEqual({ status: 403 });
    expect(await openBridge(`?token=${host.token}`, null)).toEqual({ status: 403 });
  });

  it('answers an invalid call with a ValidationFailed envelope, an unknown method with UnknownMethod', async () => {
    const { socket } = await openBridge(`?token=${host.token}`);
    try {
      expect(await call(socket!, { id: 1, method: 'joinGroup', params: { groupId: 'not-a-uuid', password: 'x' } })).toEqual({
        id: 1,
        error: { code: 'ValidationFailed', message: expect.stringContaining('joinGroup') },
      });
      expect(await call(socket!, { id: 2, method: 'getState', params: { extra: true } })).toMatchObject({ id: 2, error: { code: 'ValidationFailed' } });
      expect(await call(socket!, { id: 3, method: 'signIn', params: { serverUrl: 'ftp://x', email: 'a@b.c', password: 'p' } })).toMatchObject({
        id: 3,
        error: { code: 'ValidationFailed' },
      });
      expect(await call(socket!, { id: 4, method: 'readKeychain' })).toMatchObject({ id: 4, error: { code: 'UnknownMethod' } });
      expect(await call(socket!, { id: 5, method: 'toString' })).toMatchObject({ id: 5, error: { code: 'UnknownMethod' } });
    } finally {
      socket!.close();
    }
  });

  it('a valid call reaches the service; its failures come back as envelopes; events are pushed', async () => {
    const { socket } = await openBridge(`?token=${host.token}`);
    try {
      const state = await call(socket!, { id: 10, method: 'getState' });
      expect(state).toEqual({ id: 10, result: expect.objectContaining({ user: null, machine: null, connection: 'NotRegistered', secretStore: 'memory' }) });
      expect(await call(socket!, { id: 11, method: 'listGroups', params: {} })).toEqual({ id: 11, error: { code: 'NotSignedIn', message: expect.any(String) } });
      const logs = await call(socket!, { id: 12, method: 'getLogsLocation' });
      expect(logs).toEqual({ id: 12, result: { path: path.join(root, 'profile', 'logs') } });

      const pushed = new Promise<Record<string, unknown>>((resolve) =>
        socket!.on('message', (data: Buffer) => {
          const message = JSON.parse(data.toString()) as Record<string, unknown>;
          if (message.event === 'stateChanged') resolve(message);
        }),
      );
      await call(socket!, { id: 13, method: 'signOut' });
      expect(await pushed).toMatchObject({ event: 'stateChanged', payload: { user: null } });
    } finally {
      socket!.close();
    }
  });
});
