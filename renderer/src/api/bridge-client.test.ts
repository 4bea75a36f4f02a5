// The browser-mode bridge client against a real WebSocket server speaking the documented
// message format (protocol/desktop-api.ts): calls, error envelopes, pushed events, unsubscribe,
// and a lost host.
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { bridgeUrl, createBridgeClient, readBridgeToken } from './bridge-client.ts';

interface Host {
  url: string;
  server: WebSocketServer;
  received: unknown[];
  push(message: unknown): void;
  close(): Promise<void>;
}

const hosts: Host[] = [];
afterEach(async () => {
  while (hosts.length) await hosts.pop()!.close();
});

async function startHost(answer: (request: { id: number; method: string; params?: unknown }) => unknown | null): Promise<Host> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/bridge' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const received: unknown[] = [];
  server.on('connection', (socket, request) => {
    if (!request.url?.includes('token=secret')) return socket.close(4401);
    socket.on('message', (data) => {
      const message = JSON.parse(String(data));
      received.push(message);
      const reply = answer(message);
      if (reply !== null) socket.send(JSON.stringify(reply));
    });
  });
  const { port } = server.address() as { port: number };
  const host: Host = {
    url: `ws://127.0.0.1:${port}/bridge?token=secret`,
    server,
    received,
    push: (message) => server.clients.forEach((c) => c.send(JSON.stringify(message))),
    close: () =>
      new Promise<void>((resolve) => {
        server.clients.forEach((c) => c.terminate());
        server.close(() => resolve());
      }),
  };
  hosts.push(host);
  return host;
}

const client = (url: string) => createBridgeClient({ url, WebSocketImpl: WebSocket as unknown as typeof globalThis.WebSocket });

describe('bridge client', () => {
  it('reads the token from the query or the fragment and builds the bridge address', () => {
    expect(readBridgeToken({ search: '?token=abc', hash: '' })).toBe('abc');
    expect(readBridgeToken({ search: '', hash: '#token=xyz' })).toBe('xyz');
    expect(readBridgeToken({ search: '', hash: '#page=groups&token=t%2B1' })).toBe('t+1');
    expect(readBridgeToken({ search: '', hash: '' })).toBeNull();
    expect(bridgeUrl({ protocol: 'http:', host: '127.0.0.1:4100', search: '', hash: '#token=a b' })).toBe('ws://127.0.0.1:4100/bridge?token=a%20b');
  });

  it('sends { id, method, params } and resolves with the result', async () => {
    const host = await startHost((request) => ({ id: request.id, result: { echo: request.method, params: request.params ?? null } }));
    const runtime = client(host.url);
    await expect(runtime.searchUsers({ query: 'ann' })).resolves.toEqual({ echo: 'searchUsers', params: { query: 'ann' } });
    await expect(runtime.getState()).resolves.toEqual({ echo: 'getState', params: null });
    expect(host.received).toEqual([
      { id: 1, method: 'searchUsers', params: { query: 'ann' } },
      { id: 2, method: 'getState' },
    ]);
    runtime.close();
  });

  it('matches answers to calls by id, whatever their order', async () => {
    const held: { id: number; method: string }[] = [];
    const host = await startHost((request) => {
      held.push(request);
      if (held.length < 2) return null;
      // answer the second first, then the first
      host.server.clients.forEach((c) => c.send(JSON.stringify({ id: held[1]!.id, result: 'second' })));
      return { id: held[0]!.id, result: 'first' };
    });
    const runtime = client(host.url);
    const [a, b] = await Promise.all([runtime.listGroups(), runtime.listEnvironments()]);
    expect([a, b]).toEqual(['first', 'second']);
    runtime.close();
  });

  it('rejects with the error envelope the host sends', async () => {
    const host = await startHost((request) => ({ id: request.id, error: { code: 'IncorrectGroupPassword', message: 'Wrong password.' } }));
    const runtime = client(host.url);
    await expect(runtime.joinGroup({ groupId: 'g', password: 'p' })).rejects.toEqual({ code: 'IncorrectGroupPassword', message: 'Wrong password.' });
    runtime.close();
  });

  it('dispatches pushed events to their listeners until they unsubscribe', async () => {
    const host = await startHost((request) => ({ id: request.id, result: null }));
    const runtime = client(host.url);
    const states: unknown[] = [];
    const progress: unknown[] = [];
    const off = runtime.on('stateChanged', (s) => states.push(s));
    runtime.on('progress', (p) => progress.push(p));
    await runtime.getState(); // connected
    host.push({ event: 'stateChanged', payload: { connection: 'Online' } });
    host.push({ event: 'progress', payload: { operation: 'joinGroup', message: 'Deriving the group key…' } });
    host.push({ event: 'unknown', payload: 1 });
    await expect.poll(() => progress.length).toBe(1);
    expect(states).toEqual([{ connection: 'Online' }]);
    off();
    host.push({ event: 'stateChanged', payload: { connection: 'Offline' } });
    host.push({ event: 'progress', payload: { operation: 'x', message: 'y' } });
    await expect.poll(() => progress.length).toBe(2);
    expect(states).toHaveLength(1);
    runtime.close();
  });

  it('fails pending and new calls with HostUnavailable when the host goes away', async () => {
    const host = await startHost(() => null); // never answers
    const runtime = client(host.url);
    const pending = runtime.listGroups();
    await expect.poll(() => host.received.length).toBe(1);
    await host.close();
    await expect(pending).rejects.toMatchObject({ code: 'HostUnavailable' });
    await expect(runtime.listGroups()).rejects.toMatchObject({ code: 'HostUnavailable' });
    runtime.close();
  });

  it('is refused without the token', async () => {
    const host = await startHost((request) => ({ id: request.id, result: 'should not happen' }));
    const runtime = client(host.url.replace('token=secret', 'token=wrong'));
    await expect(runtime.getState()).rejects.toMatchObject({ code: 'HostUnavailable' });
    runtime.close();
  });
});
