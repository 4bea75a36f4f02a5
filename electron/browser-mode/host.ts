/**
 * Browser mode: the renderer served by a local host process that runs the runtime core (the
 * DesktopService), with the WebSocket bridge of protocol/desktop-api.ts in place of Electron's
 * preload and IPC. Used by `npm start` where the Electron binary is missing, and by the e2e suite.
 *
 * Who may talk to it:
 *  - it listens on 127.0.0.1 only (a random port by default);
 *  - every request must carry the per-launch token: the page address has `?token=…`; the host
 *    then sets a same-site, HttpOnly cookie (named per port) so the page's scripts and styles
 *    load without it; the bridge upgrade must have `?token=…` itself. No token → 401;
 *  - the Host header must name this host (127.0.0.1:PORT or localhost:PORT: no DNS rebinding);
 *  - the bridge upgrade's Origin must be the host's own origin (403 otherwise): another site in
 *    the same browser cannot drive it even if it guessed the port;
 *  - every call is validated with `validateParams` before the service sees it; failures go back
 *    as `{ code, message }` envelopes; the service's events are pushed to every client.
 * Pages carry a strict Content-Security-Policy (the one the Electron shell uses).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  BRIDGE_PATH,
  isMethodName,
  toErrorEnvelope,
  validateParams,
  type BridgeResponse,
  type DesktopErrorEnvelope,
  type MethodName,
} from '../../protocol/desktop-api.ts';
import { SECURITY_HEADERS } from '../main/content-security-policy.ts';
import type { DesktopService } from '../runtime/desktop-service.ts';

export interface BrowserHostOptions {
  service: DesktopService;
  /** The built renderer (dist/renderer). */
  rendererDir: string;
  /** Default 0: a free port. */
  port?: number;
  /** Default: 32 random bytes, base64url. */
  token?: string;
  /** Connections, refusals and unexpected failures (never a call's params: they may hold passwords). */
  log?: (line: string, level?: 'info' | 'warn') => void;
}

export interface BrowserHost {
  /** The page address with the token: what a person opens. */
  url: string;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

const MAX_MESSAGE_BYTES = 1024 * 1024;

function sameSecret(given: string | null | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

export async function startBrowserHost(options: BrowserHostOptions): Promise<BrowserHost> {
  const token = options.token ?? randomBytes(32).toString('base64url');
  const rendererDir = path.resolve(options.rendererDir);
  const log = options.log ?? (() => undefined);
  let port = 0;
  let allowedHosts = new Set<string>();
  let origin = '';
  const cookieName = () => `mr_token_${port}`;

  const refuse = (response: ServerResponse, status: 401 | 403 | 404 | 405, text: string) => {
    response.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
    response.end(`${text}\n`);
  };

  const server = http.createServer((request, response) => {
    void serve(request, response).catch((error: unknown) => {
      log(`browser host: serving ${request.url?.split('?')[0]} failed: ${(error as Error).message}`);
      if (!response.headersSent) response.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end();
    });
  });

  async function serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (!allowedHosts.has(request.headers.host ?? '')) return refuse(response, 403, 'This address is not served here.');
    const url = new URL(request.url ?? '/', origin);
    const queryToken = url.searchParams.get('token');
    const authorised = sameSecret(queryToken, token) || sameSecret(cookieValue(request.headers.cookie, cookieName()), token);
    if (!authorised) {
      log(`browser host: refused ${request.method} ${url.pathname} without the token`);
      return refuse(response, 401, 'Machine Runtime: open the address printed by `npm start` (it carries the access token).');
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') return refuse(response, 405, 'Method not allowed.');
    let pathname: string;
    try {
      pathname = decodeURIComponent(url.pathname);
    } catch {
      return refuse(response, 404, 'Not found.');
    }
    if (pathname === '/' || pathname === '') pathname = '/index.html';
    const file = path.resolve(rendererDir, `.${pathname}`);
    if (!file.startsWith(`${rendererDir}${path.sep}`)) return refuse(response, 404, 'Not found.');
    let body: Buffer;
    try {
      body = await fs.readFile(file);
    } catch {
      return refuse(response, 404, 'Not found.');
    }
    const headers: Record<string, string> = {
      ...SECURITY_HEADERS,
      'Content-Type': MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': String(body.length),
      'Cache-Control': file.endsWith('.html') ? 'no-store' : 'private, max-age=3600',
    };
    if (sameSecret(queryToken, token)) {
      headers['Set-Cookie'] = `${cookieName()}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`;
    }
    response.writeHead(200, headers);
    response.end(request.method === 'HEAD' ? undefined : body);
  }

  // ── the bridge ──

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  const reject = (socket: Duplex, status: 401 | 403 | 404, reason: string) => {
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length + 1}\r\n\r\n${reason}\n`);
  };

  server.on('upgrade', (request, socket, head) => {
    socket.on('error', () => undefined);
    const url = new URL(request.url ?? '/', origin);
    if (!allowedHosts.has(request.headers.host ?? '')) return reject(socket, 403, 'Unknown host.');
    if (url.pathname !== BRIDGE_PATH) return reject(socket, 404, 'Not found.');
    if (!sameSecret(url.searchParams.get('token'), token)) {
      log('browser host: refused a bridge connection without the token');
      return reject(socket, 401, 'The bridge needs the access token.');
    }
    const from = request.headers.origin;
    if (!from || !allowedOrigins().has(from)) {
      log(`browser host: refused a bridge connection from origin ${from ?? '(none)'}`);
      return reject(socket, 403, 'Foreign origin.');
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  });

  const allowedOrigins = () => new Set([...allowedHosts].map((h) => `http://${h}`));

  wss.on('connection', (ws: WebSocket) => {
    log(`browser host: a window connected to the bridge (${wss.clients.size} open)`, 'info');
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      void answer(ws, data.toString());
    });
  });

  async function answer(ws: WebSocket, text: string): Promise<void> {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      log('browser host: ignored a bridge message that is not JSON');
      return;
    }
    const { id, method, params } = (message ?? {}) as { id?: unknown; method?: unknown; params?: unknown };
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
      log('browser host: ignored a bridge message without a valid id');
      return;
    }
    const reply = (body: Omit<BridgeResponse, 'id'>) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ id, ...body }));
    };
    if (!isMethodName(method)) {
      return reply({ error: { code: 'UnknownMethod', message: `There is no method ${JSON.stringify(String(method)).slice(0, 80)}.` } });
    }
    const checked = validateParams(method, params);
    if (!checked.ok) return reply({ error: checked.error });
    try {
      const handler = options.service[method] as (p: unknown) => Promise<unknown>;
      const result = await handler.call(options.service, checked.params);
      reply({ result: result === undefined ? null : result });
    } catch (error) {
      const envelope: DesktopErrorEnvelope = toErrorEnvelope(error);
      if (envelope.code === 'InternalError') log(`browser host: ${method as MethodName} failed: ${(error as Error)?.message ?? String(error)}`);
      reply({ error: envelope });
    }
  }

  const unsubscribe = options.service.subscribe((event, payload) => {
    const frame = JSON.stringify({ event, payload });
    for (const client of wss.clients) if (client.readyState === client.OPEN) client.send(frame);
  });

  await new Promise<void>((resolve, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', rejectListen);
      resolve();
    });
  });
  port = (server.address() as { port: number }).port;
  allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  origin = `http://127.0.0.1:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url: `${origin}/?token=${token}`,
    origin,
    port,
    token,
    close: () =>
      (closing ??= (async () => {
        unsubscribe();
        for (const client of wss.clients) client.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })()),
  };
}
