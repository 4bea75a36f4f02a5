import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { CloudClient, CloudError, normalizeServerUrl, retryAfterSeconds, type CloudClientOptions } from '../runtime/cloud-client.ts';
import { MemorySecretStore } from '../runtime/secret-store.ts';

/**
 * The client's transport rules against a small scripted HTTP server: which answers are retried,
 * how long it waits, how failures become CloudError. (The real cloud: cloud-client.cloud.test.ts.)
 */
type Handler = (req: http.IncomingMessage, body: string) => { status: number; headers?: Record<string, string>; body?: string };

const problem = (status: number, code: string, detail: string, extra: object = {}) => ({
  status,
  headers: { 'content-type': 'application/problem+json' },
  body: JSON.stringify({ type: `https://machine-runtime.dev/problems/${code}`, title: code, status, detail, code, ...extra }),
});
const json = (status: number, value: unknown) => ({ status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });

let server: http.Server;
let baseUrl: string;
let handler: Handler;
let seen: { method: string; url: string; authorization: string | undefined; body: string }[];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, body });
      const answer = handler(req, body);
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

let sleeps: number[];
beforeEach(() => {
  seen = [];
  sleeps = [];
});

function client(options: Partial<CloudClientOptions> = {}) {
  return new CloudClient({
    serverUrl: baseUrl,
    secrets: new MemorySecretStore(),
    retry: { attempts: 4, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterSeconds: 5 },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...options,
  });
}

/** A scripted sequence of answers, then the last one forever. */
function script(...answers: ReturnType<Handler>[]): Handler {
  let i = 0;
  return () => answers[Math.min(i++, answers.length - 1)]!;
}

describe('retries', () => {
  it('retries 503 twice, then returns the 200 body, with growing jittered waits', async () => {
    handler = script(problem(503, 'ServiceUnavailable', 'starting'), problem(503, 'ServiceUnavailable', 'starting'), json(200, { needsSetup: true }));
    const result = await client({ random: () => 1 }).setupStatus();
    expect(result).toEqual({ needsSetup: true });
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual(Array(3).fill('GET /api/v1/setup'));
    expect(sleeps).toEqual([100, 200]);
  });

  it('jitters each wait between half and all of the step', async () => {
    handler = script(problem(503, 'ServiceUnavailable', 'x'), json(200, {}));
    await client({ random: () => 0 }).request('GET', '/x', { as: 'anonymous' });
    expect(sleeps).toEqual([50]);
  });

  it('never retries a 400, and turns the problem into a CloudError with its code and detail', async () => {
    handler = script(
      problem(400, 'ValidationFailed', 'Invalid request body: must have required property name', {
        errors: [{ path: '/name', message: 'required' }],
      }),
    );
    const error = await client()
      .request('POST', '/machine-groups', { as: 'anonymous', body: {} })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CloudError);
    expect(error).toMatchObject({
      status: 400,
      code: 'ValidationFailed',
      detail: 'Invalid request body: must have required property name',
      errors: [{ path: '/name', message: 'required' }],
    });
    expect(seen).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('does not retry other 4xx either (404, 409)', async () => {
    handler = script(problem(409, 'GroupNotEmpty', 'The group still has 2 machines.'));
    await expect(client().request('DELETE', '/machine-groups/g', { as: 'anonymous' })).rejects.toMatchObject({ code: 'GroupNotEmpty', status: 409 });
    handler = script(problem(404, 'NotFound', 'Machine group was not found.'));
    await expect(client().request('GET', '/machine-groups/g', { as: 'anonymous' })).rejects.toMatchObject({ code: 'NotFound' });
    expect(seen).toHaveLength(2);
  });

  it('waits for Retry-After on 429 when it is short, then succeeds', async () => {
    handler = script(
      { ...problem(429, 'RateLimited', 'Too many attempts; try again in 2 seconds.', { retryAfter: 2 }), headers: { 'content-type': 'application/problem+json', 'retry-after': '2' } },
      json(200, { ok: true }),
    );
    expect(await client({ random: () => 0 }).request('GET', '/x', { as: 'anonymous' })).toEqual({ ok: true });
    expect(seen).toHaveLength(2);
    expect(sleeps).toEqual([2000]);
  });

  it('gives up at once on a 429 whose Retry-After is longer than the cap, reporting when to retry', async () => {
    handler = script({
      ...problem(429, 'RateLimited', 'Too many sign-in attempts.', { retryAfter: 900 }),
      headers: { 'content-type': 'application/problem+json', 'retry-after': '900' },
    });
    await expect(client().request('POST', '/auth/token', { as: 'anonymous', body: {} })).rejects.toMatchObject({
      code: 'RateLimited',
      status: 429,
      retryAfter: 900,
    });
    expect(seen).toHaveLength(1);
  });

  it('retries a POST after 503 (the server did not act) but not after 500 (it may have)', async () => {
    handler = script(problem(503, 'ServiceUnavailable', 'x'), json(201, { id: 'g1' }));
    expect(await client().request('POST', '/machine-groups', { as: 'anonymous', body: { name: 'A' } })).toEqual({ id: 'g1' });
    expect(seen).toHaveLength(2);

    seen = [];
    handler = script(problem(500, 'InternalError', 'Something went wrong on the server.'), json(201, { id: 'g2' }));
    await expect(client().request('POST', '/machine-groups', { as: 'anonymous', body: { name: 'B' } })).rejects.toMatchObject({
      code: 'InternalError',
      status: 500,
    });
    expect(seen).toHaveLength(1);

    seen = [];
    handler = script(problem(500, 'InternalError', 'x'), json(200, { id: 'g3' }));
    expect(await client().request('POST', '/x', { as: 'anonymous', body: {}, idempotent: true })).toEqual({ id: 'g3' });
    expect(seen).toHaveLength(2);
  });

  it('stops after the configured attempts and reports the last answer', async () => {
    handler = script(problem(502, 'ServiceUnavailable', 'upstream down'));
    await expect(client({ retry: { attempts: 3, baseDelayMs: 1 } }).request('GET', '/x', { as: 'anonymous' })).rejects.toMatchObject({
      code: 'ServiceUnavailable',
      status: 502,
    });
    expect(seen).toHaveLength(3);
  });

  it('reports a closed port as Unreachable, naming the server, after retrying', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const error = await client({ serverUrl: `http://127.0.0.1:${port}` })
      .setupStatus()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CloudError);
    expect(error).toMatchObject({ code: 'Unreachable', status: 0 });
    expect((error as Error).message).toBe(`The server http://127.0.0.1:${port} cannot be reached (the connection was refused).`);
    expect(sleeps).toHaveLength(3); // 4 attempts
  });

  it('gives up on a server that does not answer in time', async () => {
    const slow = http.createServer(() => undefined); // accepts, never answers
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
      await expect(client({ serverUrl: url, timeoutMs: 100, retry: { attempts: 2, baseDelayMs: 1 } }).setupStatus()).rejects.toMatchObject({
        code: 'Unreachable',
        message: `The server ${url} cannot be reached (it did not answer in time).`,
      });
    } finally {
      slow.closeAllConnections();
      await new Promise<void>((resolve) => slow.close(() => resolve()));
    }
  });
});

describe('answers that are not the API', () => {
  it('an HTML 404 is a BadResponse that suggests checking the address', async () => {
    handler = script({ status: 404, headers: { 'content-type': 'text/html' }, body: '<h1>Not Found</h1>' });
    await expect(client().setupStatus()).rejects.toMatchObject({ code: 'BadResponse', status: 404, message: expect.stringMatching(/check the address/) });
  });

  it('a proxy\'s HTML 502 is ServiceUnavailable (and retried for a GET)', async () => {
    handler = script({ status: 502, headers: { 'content-type': 'text/html' }, body: '<h1>Bad Gateway</h1>' }, json(200, { needsSetup: false }));
    expect(await client().setupStatus()).toEqual({ needsSetup: false });
    handler = script({ status: 502, headers: { 'content-type': 'text/html' }, body: 'bad gateway' });
    await expect(client({ retry: { attempts: 1 } }).setupStatus()).rejects.toMatchObject({ code: 'ServiceUnavailable', status: 502 });
  });

  it('a 200 that is not JSON is a BadResponse', async () => {
    handler = script({ status: 200, headers: { 'content-type': 'text/html' }, body: '<html>' });
    await expect(client().setupStatus()).rejects.toMatchObject({ code: 'BadResponse' });
  });

  it('an unknown code from a newer server maps to the code of its status', async () => {
    handler = script(problem(403, 'SomethingNew', 'A newer rule says no.'));
    await expect(client().setupStatus()).rejects.toMatchObject({ code: 'Forbidden', detail: 'A newer rule says no.' });
  });
});

describe('tokens', () => {
  /** A tiny token server: refresh tokens rotate; access tokens `at-N` are valid until `revoked`. */
  function tokenServer() {
    const state = { issued: 0, grants: [] as string[], valid: new Set<string>(), usedRefresh: new Set<string>() };
    handler = (req, body) => {
      if (req.url === '/api/v1/auth/token') {
        const grant = JSON.parse(body) as { grant_type: string; refresh_token?: string; assertion?: string };
        state.grants.push(grant.grant_type);
        if (grant.grant_type === 'refresh_token') {
          if (!grant.refresh_token || state.usedRefresh.has(grant.refresh_token)) return problem(401, 'Unauthorized', 'This refresh token was already used.');
          state.usedRefresh.add(grant.refresh_token);
        }
        state.issued += 1;
        const at = `at-${state.issued}`;
        state.valid.add(at);
        return json(200, {
          access_token: at,
          token_type: 'Bearer',
          expires_in: 900,
          ...(grant.grant_type === 'refresh_token' ? { refresh_token: `rt-${state.issued}` } : {}),
        });
      }
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token || !state.valid.has(token)) return problem(401, 'Unauthorized', 'Sign-in required.');
      return json(200, { token });
    };
    return state;
  }

  it('gets one access token for many simultaneous calls and stores the rotated refresh token', async () => {
    const state = tokenServer();
    const secrets = new MemorySecretStore();
    await secrets.set('refresh-token', 'rt-0');
    const c = client({ secrets });
    const results = await Promise.all(Array.from({ length: 5 }, () => c.request<{ token: string }>('GET', '/me')));
    expect(results.map((r) => r.token)).toEqual(Array(5).fill('at-1'));
    expect(state.grants).toEqual(['refresh_token']);
    expect(await secrets.get('refresh-token')).toBe('rt-1');
  });

  it('on 401 renews the token once and retries; a second 401 is reported', async () => {
    const state = tokenServer();
    const secrets = new MemorySecretStore();
    await secrets.set('refresh-token', 'rt-0');
    const c = client({ secrets });
    await c.request('GET', '/me');
    state.valid.clear(); // the server revoked or expired it before our clock says so
    expect(await c.request<{ token: string }>('GET', '/me')).toEqual({ token: 'at-2' });
    expect(await secrets.get('refresh-token')).toBe('rt-2');

    handler = () => problem(401, 'Unauthorized', 'Sign-in required.');
    await expect(c.request('GET', '/me')).rejects.toMatchObject({ code: 'Unauthorized' });
  });

  it('renews ahead of expiry (skew) and on forceRefresh', async () => {
    const state = tokenServer();
    const secrets = new MemorySecretStore();
    await secrets.set('refresh-token', 'rt-0');
    let now = 1_000_000;
    const c = client({ secrets, now: () => now });
    expect(await c.accessToken('user')).toBe('at-1');
    now += 880_000; // 20 s left of 900: inside the 30 s skew
    expect(await c.accessToken('user')).toBe('at-2');
    expect(await c.accessToken('user', { forceRefresh: true })).toBe('at-3');
    expect(state.grants).toHaveLength(3);
  });

  it('a refused refresh token is dropped from the store, and the call reports it', async () => {
    tokenServer();
    const secrets = new MemorySecretStore();
    await secrets.set('refresh-token', 'rt-0');
    const c = client({ secrets });
    await c.accessToken('user');
    await secrets.set('refresh-token', 'rt-0'); // an old copy: already used
    await expect(c.accessToken('user', { forceRefresh: true })).rejects.toMatchObject({ code: 'Unauthorized' });
    expect(await secrets.get('refresh-token')).toBeNull();
  });

  it('without a refresh token a user call is NotSignedIn; without a machine it is NotRegistered', async () => {
    tokenServer();
    await expect(client().request('GET', '/me')).rejects.toMatchObject({ code: 'NotSignedIn', status: 0 });
    await expect(client().request('GET', '/me', { as: 'machine' })).rejects.toMatchObject({ code: 'NotRegistered' });
    expect(seen).toHaveLength(0);
  });

  it('a machine call signs in with a fresh assertion and never stores a refresh token', async () => {
    const state = tokenServer();
    const secrets = new MemorySecretStore();
    let made = 0;
    const c = client({ secrets, machineAssertion: async () => `assertion-${++made}` });
    expect(await c.request('GET', '/machine-groups/g/key-bundle', { as: 'machine' })).toEqual({ token: 'at-1' });
    expect(JSON.parse(seen[0]!.body)).toEqual({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: 'assertion-1' });
    expect(await c.accessToken('machine', { forceRefresh: true })).toBe('at-2');
    expect(made).toBe(2);
    expect(state.grants).toEqual(['urn:ietf:params:oauth:grant-type:jwt-bearer', 'urn:ietf:params:oauth:grant-type:jwt-bearer']);
    expect(await secrets.list()).toEqual([]);
  });

  it('sends a registration token as its own authorization scheme', async () => {
    handler = () => json(201, { id: 'm1' });
    await client().registerMachine(
      { name: 'VM', signingPublicKey: 'x', encryptionPublicKey: 'y', fingerprint: 'f' },
      { registrationToken: 'mrreg_abc' },
    );
    expect(seen[0]!.authorization).toBe('RegistrationToken mrreg_abc');
  });
});

describe('helpers', () => {
  it('normalizes server addresses', () => {
    expect(normalizeServerUrl('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080');
    expect(normalizeServerUrl('127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    expect(normalizeServerUrl('https://mr.example.com/base/api/v1/')).toBe('https://mr.example.com/base');
    expect(() => normalizeServerUrl('ftp://x')).toThrow(/http:\/\/ or https:\/\//);
    expect(() => normalizeServerUrl('http://')).toThrow(/not a server address/);
  });

  it('reads Retry-After as seconds or as a date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterSeconds('7', now)).toBe(7);
    expect(retryAfterSeconds('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30);
    expect(retryAfterSeconds(null, now)).toBeUndefined();
    expect(retryAfterSeconds('soon', now)).toBeUndefined();
  });
});
