// The app:// protocol handler: serves the built renderer with the CSP header, and nothing
// outside the renderer folder.
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppProtocolHandler, resolveAppPath } from '../main/app-protocol.ts';
import { CONTENT_SECURITY_POLICY } from '../main/content-security-policy.ts';

let base: string;
let root: string;
let handle: (request: Request) => Promise<Response>;

beforeAll(() => {
  base = mkdtempSync(path.join(os.tmpdir(), 'mr-protocol-'));
  root = path.join(base, 'renderer');
  mkdirSync(path.join(root, 'assets'), { recursive: true });
  writeFileSync(path.join(root, 'index.html'), '<!doctype html><title>Machine Runtime</title>');
  writeFileSync(path.join(root, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(path.join(base, 'secret.txt'), 'TOP SECRET');
  writeFileSync(path.join(base, 'renderer-evil.txt'), 'SIBLING SECRET');
  symlinkSync(path.join(base, 'secret.txt'), path.join(root, 'link.txt'));
  handle = createAppProtocolHandler(root);
});

afterAll(() => rmSync(base, { recursive: true, force: true }));

const get = (url: string, method = 'GET') => handle(new Request(url, { method }));

describe('app:// protocol', () => {
  it('serves index.html at the root with the CSP and nosniff headers', async () => {
    const response = await get('app://machine-runtime/');
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('<title>Machine Runtime</title>');
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('serves assets with their content type and the CSP', async () => {
    const response = await get('app://machine-runtime/assets/app.js');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(response.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
  });

  it('refuses encoded parent segments', async () => {
    for (const url of [
      'app://machine-runtime/..%2fsecret.txt',
      'app://machine-runtime/assets/..%2f..%2fsecret.txt',
      'app://machine-runtime/..%5csecret.txt',
      'app://machine-runtime/%2e%2e%5c%2e%2e%5csecret.txt',
      'app://machine-runtime/%00index.html',
    ]) {
      const response = await get(url);
      expect(response.status, url).toBe(403);
      expect(await response.text(), url).not.toContain('SECRET');
    }
  });

  it('keeps dot-dot segments the URL parser normalises inside the folder', async () => {
    for (const url of ['app://machine-runtime/../secret.txt', 'app://machine-runtime/%2e%2e/secret.txt']) {
      const response = await get(url);
      expect(response.status, url).toBe(404);
      expect(await response.text(), url).not.toContain('SECRET');
    }
  });

  it('does not serve a sibling folder that shares the prefix', () => {
    expect(resolveAppPath(root, 'app://machine-runtime/..%2frenderer-evil.txt')).toBeNull();
  });

  it('refuses a symlink that points outside the folder', async () => {
    const response = await get('app://machine-runtime/link.txt');
    expect(response.status).toBe(403);
    expect(await response.text()).not.toContain('SECRET');
  });

  it('refuses another host and other methods, and answers 404 for a missing file', async () => {
    expect((await get('app://elsewhere/index.html')).status).toBe(403);
    expect((await get('app://machine-runtime/index.html', 'POST')).status).toBe(405);
    expect((await get('app://machine-runtime/nothing.js')).status).toBe(404);
    expect((await get('app://machine-runtime/assets')).status).toBe(404);
  });
});

describe('Content-Security-Policy', () => {
  it('is strict: self only, no eval, no plugins, no framing', () => {
    const directives = Object.fromEntries(
      CONTENT_SECURITY_POLICY.split(';').map((d) => {
        const [name = '', ...values] = d.trim().split(/\s+/);
        return [name, values];
      }),
    );
    expect(directives['default-src']).toEqual(["'self'"]);
    expect(directives['script-src']).toEqual(["'self'"]);
    expect(directives['object-src']).toEqual(["'none'"]);
    expect(directives['frame-ancestors']).toEqual(["'none'"]);
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-eval');
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/https?:|\*/);
  });
});
