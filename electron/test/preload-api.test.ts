// The preload exposes exactly the RuntimeApi: one function per method, `on` with its own
// unsubscribe, error envelopes as plain rejections, and nothing of ipcRenderer.
import { beforeEach, describe, expect, it, vi, type Mock } from 'vitest';
import { METHOD_NAMES, type RuntimeApi } from '../../protocol/desktop-api.ts';

const fake = vi.hoisted(() => ({
  exposed: new Map<string, unknown>(),
  listeners: new Map<string, Set<(...args: unknown[]) => void>>(),
  invoke: null as unknown as Mock,
  ipcRenderer: null as unknown as Record<string, unknown>,
}));

vi.mock('electron', () => {
  fake.invoke = vi.fn();
  fake.ipcRenderer = {
    invoke: fake.invoke,
    on: (channel: string, listener: (...args: unknown[]) => void) => {
      if (!fake.listeners.has(channel)) fake.listeners.set(channel, new Set());
      fake.listeners.get(channel)!.add(listener);
    },
    removeListener: (channel: string, listener: (...args: unknown[]) => void) => {
      fake.listeners.get(channel)?.delete(listener);
    },
    send: vi.fn(),
  };
  return {
    contextBridge: { exposeInMainWorld: (key: string, api: unknown) => fake.exposed.set(key, api) },
    ipcRenderer: fake.ipcRenderer,
  };
});

await import('../preload/preload.ts');
const runtime = fake.exposed.get('runtime') as RuntimeApi;

const emit = (message: unknown) => {
  for (const listener of fake.listeners.get('runtime:event') ?? []) listener({ sender: 'ignored' }, message);
};

beforeEach(() => fake.invoke.mockReset());

describe('preload', () => {
  it('exposes only window.runtime with exactly the contract methods and on', () => {
    expect([...fake.exposed.keys()]).toEqual(['runtime']);
    expect(Object.keys(runtime).sort()).toEqual([...METHOD_NAMES, 'on'].sort());
    expect(Object.isFrozen(runtime)).toBe(true);
    for (const value of Object.values(runtime)) {
      expect(typeof value).toBe('function');
      expect(value).not.toBe(fake.ipcRenderer);
      expect(value).not.toBe(fake.invoke);
    }
  });

  it('invokes the method channel with the params object and resolves with the result', async () => {
    fake.invoke.mockResolvedValueOnce({ ok: true, result: [{ id: 'u1' }] });
    await expect(runtime.searchUsers({ query: 'ann' })).resolves.toEqual([{ id: 'u1' }]);
    expect(fake.invoke).toHaveBeenCalledWith('runtime:searchUsers', { query: 'ann' });

    fake.invoke.mockResolvedValueOnce({ ok: true, result: { path: '/logs' } });
    await runtime.getLogsLocation();
    expect(fake.invoke).toHaveBeenLastCalledWith('runtime:getLogsLocation');
  });

  it('rejects with the plain error envelope (its code survives contextBridge)', async () => {
    fake.invoke.mockResolvedValueOnce({ ok: false, error: { code: 'GroupFull', message: 'The group is full.' } });
    const failure = await runtime.leaveGroup().catch((error: unknown) => error);
    expect(failure).toEqual({ code: 'GroupFull', message: 'The group is full.' });
    expect(failure).not.toBeInstanceOf(Error);

    fake.invoke.mockRejectedValueOnce(new Error('channel closed'));
    await expect(runtime.leaveGroup()).rejects.toMatchObject({ code: 'InternalError' });
    fake.invoke.mockResolvedValueOnce('garbage');
    await expect(runtime.leaveGroup()).rejects.toMatchObject({ code: 'InternalError' });
  });

  it('delivers events by name, and each on() returns its own unsubscribe', () => {
    const first = vi.fn();
    const second = vi.fn();
    const progress = vi.fn();
    const offFirst = runtime.on('stateChanged', first);
    const offSecond = runtime.on('stateChanged', second);
    runtime.on('progress', progress);

    emit({ event: 'stateChanged', payload: { connection: 'Online' } });
    expect(first).toHaveBeenCalledWith({ connection: 'Online' });
    expect(second).toHaveBeenCalledTimes(1);
    expect(progress).not.toHaveBeenCalled();

    offFirst();
    emit({ event: 'stateChanged', payload: { connection: 'Offline' } });
    expect(first).toHaveBeenCalledTimes(1);
    expect(second).toHaveBeenCalledTimes(2);
    offSecond();
    offSecond();
    emit({ event: 'stateChanged', payload: {} });
    expect(second).toHaveBeenCalledTimes(2);
  });

  it('refuses unknown events and non-function listeners', () => {
    expect(() => runtime.on('secrets' as never, () => {})).toThrow(/Unknown event/);
    expect(() => runtime.on('progress', 'x' as never)).toThrow(/function/);
  });
});
