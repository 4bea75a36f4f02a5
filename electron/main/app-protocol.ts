/**
 * The `app://` protocol that serves the built renderer (dist/renderer) to the window, instead
 * of `file://` (which would give the page the run of the disk). Only files inside the renderer
 * folder are served: a path that resolves outside it (`..`, encoded separators, a symlink
 * pointing out) is refused. Every answer carries the CSP header.
 *
 * The handler is a plain `(Request) => Promise<Response>` so it is tested without Electron.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SECURITY_HEADERS } from './content-security-policy.ts';

export const APP_SCHEME = 'app';
export const APP_HOST = 'machine-runtime';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`;

/** For `protocol.registerSchemesAsPrivileged`, before the app is ready. */
export const APP_SCHEME_PRIVILEGES = {
  scheme: APP_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: false, stream: false },
} as const;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/** True when `url` is a page of the app itself (scheme and host, any path). */
export function isAppUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST && !parsed.username && !parsed.password;
  } catch {
    return false;
  }
}

function answer(status: number, body: string | Uint8Array | null, contentType = 'text/plain; charset=utf-8'): Response {
  return new Response(body as BodyInit | null, {
    status,
    headers: { ...SECURITY_HEADERS, 'Content-Type': contentType, 'Cache-Control': 'no-cache' },
  });
}

/**
 * The file inside `root` that `url` names, or null when the URL is not ours or leaves the root.
 * `root` must be absolute.
 */
export function resolveAppPath(root: string, url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== `${APP_SCHEME}:` || parsed.host !== APP_HOST) return null;
  let pathname: string;
  try {
    pathname = decodeURIComponent(parsed.pathname);
  } catch {
    return null;
  }
  if (pathname.includes('\0')) return null;
  // Refuse any parent segment outright, whichever separator it uses, before resolving.
  if (pathname.split(/[\\/]/).some((segment) => segment === '..')) return null;
  const relative = pathname === '/' || pathname === '' ? 'index.html' : pathname.replace(/^[\\/]+/, '');
  if (path.isAbsolute(relative) || /^[a-zA-Z]:/.test(relative)) return null;
  const resolved = path.resolve(root, relative);
  const rootWithSep = root.endsWith(path.sep) ? root : root + path.sep;
  return resolved.startsWith(rootWithSep) ? resolved : null;
}

export function createAppProtocolHandler(rendererRoot: string): (request: Request) => Promise<Response> {
  const root = path.resolve(rendererRoot);
  let realRoot: string | null = null;
  return async (request) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return answer(405, 'Method not allowed');
    const file = resolveAppPath(root, request.url);
    if (!file) return answer(403, 'Forbidden');
    try {
      realRoot ??= await fs.realpath(root);
      const real = await fs.realpath(file);
      if (!real.startsWith(realRoot + path.sep)) return answer(403, 'Forbidden');
      const stat = await fs.stat(real);
      if (!stat.isFile()) return answer(404, 'Not found');
      const body = request.method === 'HEAD' ? null : await fs.readFile(real);
      const type = CONTENT_TYPES[path.extname(real).toLowerCase()] ?? 'application/octet-stream';
      return answer(200, body, type);
    } catch {
      return answer(404, 'Not found');
    }
  };
}
