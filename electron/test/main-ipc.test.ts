// The IPC layer: the sender check, argument validation and the error envelope, through the
// real registerDesktopIpc + isTrustedSender, with a recording ipcMain.
import { describe, expect, it, vi } from 'vitest';
import { METHOD_NAMES, ipcChannel, type IpcReply } from '../../protocol/desktop-api.ts';
import { createUnavailableDesktopService, type DesktopService } from '../main/desktop-service.ts';
import { forwardDesktopEvents, registerDesktopIpc, type IpcMainLike } from '../main/ipc.ts';
import { isTrustedSender, trustWebContents } from '../main/trusted-sender.ts';

vi.mock('electron', () => ({}));

const GROUP_ID = '0b7e3f3c-54a5-4d58-9b8e-5a2f0f1f6a10';

function fakeContents(id: number, url: string) {
  const mainFrame = { url, parent: null, processId: id, routingId: 1 };
  const contents = { id, mainFrame, once: vi.fn() };
  return contents;
}

function setup(overrides: Partial<DesktopService> = {}) {
  const handlers = new Map<string, (event: unknown, ...args: unknown[]) => Promise<IpcReply>>();
  const ipcMain: IpcMainLike = {
    handle: (channel, listener) => void handlers.set(channel, listener as never),
    removeHandler: (channel) => void handlers.delete(channel),
  };
  const service = {
    ...createUnavailableDesktopService({ appVersion: '1.0.0', hostName: 'pc', reason: 'test' }),
    ...overrides,
  };
  const logError = vi.fn();
  const unregister = registerDesktopIpc(ipcMain, service, { isTrustedSender, logError });
  const ours = fakeContents(41, 'app://machine-runtime/index.html');
  trustWebContents(ours as never);
  const invoke = (method: string, event: unknown, ...args: unknown[]) => {
    const handler = handlers.get(ipcChannel(method as never));
    if (!handler) throw new Error(`no handler for ${method}`);
    return handler(event, ...args);
  };
  const fromUs = { sender: ours, senderFrame: ours.mainFrame };
  return { handlers, invoke, fromUs, ours, logError, unregister };
}

describe('desktop IPC', () => {
  it('registers one handler per method of the contract, and removes them', () => {
    const { handlers, unregister } = setup();
    expect([...handlers.keys()].sort()).toEqual(METHOD_NAMES.map(ipcChannel).sort());
    unregister();
    expect(handlers.size).toBe(0);
  });

  it('accepts a distinct wrapper object for our main frame', async () => {
    const { invoke, ours } = setup({ getState: async () => ({ ok: 'state' }) as never });
    const sameFrame = { ...ours.mainFrame };
    await expect(invoke('getState', { sender: ours, senderFrame: sameFrame })).resolves.toMatchObject({ ok: true });
  });

  it('answers a call from our own page', async () => {
    const deleteGroup = vi.fn(async () => ({ ok: true as const }));
    const { invoke, fromUs } = setup({ deleteGroup });
    await expect(invoke('deleteGroup', fromUs, { groupId: GROUP_ID })).resolves.toEqual({ ok: true, result: { ok: true } });
    expect(deleteGroup).toHaveBeenCalledWith({ groupId: GROUP_ID });
  });

  it('refuses a frame showing another origin, a subframe and a foreign webContents', async () => {
    const deleteGroup = vi.fn(async () => ({ ok: true as const }));
    const { invoke, ours } = setup({ deleteGroup });
    const navigatedAway = fakeContents(42, 'https://evil.example/');
    trustWebContents(navigatedAway as never);
    const stranger = fakeContents(43, 'app://machine-runtime/index.html');
    const cases = {
      'foreign origin': { sender: navigatedAway, senderFrame: navigatedAway.mainFrame },
      'lookalike scheme': { sender: ours, senderFrame: { ...ours.mainFrame, url: 'app://machine-runtime.evil/index.html' } },
      subframe: { sender: ours, senderFrame: { url: 'app://machine-runtime/index.html', parent: ours.mainFrame, processId: 41, routingId: 2 } },
      'another top frame': { sender: ours, senderFrame: { url: 'app://machine-runtime/index.html', parent: null, processId: 99, routingId: 1 } },
      'untrusted webContents': { sender: stranger, senderFrame: stranger.mainFrame },
      'no frame': { sender: ours, senderFrame: null },
    };
    for (const [name, event] of Object.entries(cases)) {
      const reply = await invoke('deleteGroup', event, { groupId: GROUP_ID });
      expect(reply, name).toMatchObject({ ok: false, error: { code: 'UntrustedSender' } });
    }
    expect(deleteGroup).not.toHaveBeenCalled();
  });

  it('validates arguments before the handler runs', async () => {
    const joinGroup = vi.fn();
    const { invoke, fromUs } = setup({ joinGroup });
    const bad: unknown[][] = [
      [],
      ['not an object'],
      [{ groupId: 'not-a-uuid', password: 'secret' }],
      [{ groupId: GROUP_ID }],
      [{ groupId: GROUP_ID, password: '' }],
      [{ groupId: GROUP_ID, password: 'x'.repeat(257) }],
      [{ groupId: GROUP_ID, password: 'secret', extra: true }],
      [{ groupId: GROUP_ID, password: 42 }],
      [{ groupId: GROUP_ID, password: 'secret' }, 'second argument'],
    ];
    for (const args of bad) {
      const reply = await invoke('joinGroup', fromUs, ...args);
      expect(reply, JSON.stringify(args)).toMatchObject({ ok: false, error: { code: 'ValidationFailed' } });
    }
    expect(joinGroup).not.toHaveBeenCalled();
  });

  it('turns a handler failure into an envelope with a stable code', async () => {
    const { invoke, fromUs, logError } = setup({
      joinGroup: async () => {
        throw Object.assign(new Error('The password is not right.'), { code: 'IncorrectGroupPassword' });
      },
      listGroups: async () => {
        throw { code: 'RateLimited', message: 'Slow down.', retryAfter: 30 };
      },
      deleteGroup: async () => {
        throw new Error('secret internal detail at /home/x');
      },
      searchUsers: async () => {
        throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
      },
    });
    const joined = await invoke('joinGroup', fromUs, { groupId: GROUP_ID, password: 'wrong' });
    expect(joined).toEqual({ ok: false, error: { code: 'IncorrectGroupPassword', message: 'The password is not right.' } });
    expect(structuredClone(joined)).toEqual(joined);

    expect(await invoke('listGroups', fromUs)).toEqual({ ok: false, error: { code: 'RateLimited', message: 'Slow down.', retryAfter: 30 } });

    const internal = await invoke('deleteGroup', fromUs, { groupId: GROUP_ID });
    expect(internal).toMatchObject({ ok: false, error: { code: 'InternalError' } });
    expect(JSON.stringify(internal)).not.toContain('secret internal detail');
    expect(logError).toHaveBeenCalledWith('deleteGroup', expect.any(Error));

    expect(await invoke('searchUsers', fromUs, { query: 'ann' })).toMatchObject({ ok: false, error: { code: 'Unreachable' } });
  });

  it('forwards service events to live windows only', () => {
    let emit: ((event: never, payload: never) => void) | null = null;
    const service = {
      ...createUnavailableDesktopService({ appVersion: '1', hostName: 'pc', reason: 'x' }),
      subscribe: (listener: never) => {
        emit = listener;
        return () => {};
      },
    };
    const live = { isDestroyed: () => false, send: vi.fn() };
    const gone = { isDestroyed: () => true, send: vi.fn() };
    forwardDesktopEvents(service, () => [live, gone]);
    emit!('progress' as never, { operation: 'joinGroup', message: 'Deriving the group key…' } as never);
    expect(live.send).toHaveBeenCalledWith('runtime:event', {
      event: 'progress',
      payload: { operation: 'joinGroup', message: 'Deriving the group key…' },
    });
    expect(gone.send).not.toHaveBeenCalled();
  });
});
