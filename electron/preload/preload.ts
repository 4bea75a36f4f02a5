/**
 * The preload: exposes exactly `RuntimeApi` (protocol/desktop-api.ts) as `window.runtime`, and
 * nothing of ipcRenderer. Each method invokes its own channel and turns main's `IpcReply` into a
 * resolved value or a rejection with the plain `{ code, message }` envelope (plain objects cross
 * contextBridge intact; an Error would lose its code). Each `on` returns its own unsubscribe.
 *
 * Runs sandboxed, bundled to CommonJS by `npm run build:main` (dist/electron/preload/preload.cjs).
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import {
  IPC_EVENT_CHANNEL,
  METHOD_NAMES,
  ipcChannel,
  isDesktopErrorEnvelope,
  isEventName,
  type EventName,
  type MethodName,
} from '../../protocol/desktop-api-names.ts';
import type { BridgeEvent, EventPayload, IpcReply, RuntimeApi } from '../../protocol/desktop-api.ts';

function call(method: MethodName) {
  return async (params?: unknown): Promise<unknown> => {
    let reply: IpcReply;
    try {
      reply = (await ipcRenderer.invoke(ipcChannel(method), ...(params === undefined ? [] : [params]))) as IpcReply;
    } catch {
      throw { code: 'InternalError', message: 'Machine Runtime did not answer.' };
    }
    if (reply && reply.ok === true) return reply.result;
    if (reply && reply.ok === false && isDesktopErrorEnvelope(reply.error)) throw { ...reply.error };
    throw { code: 'InternalError', message: 'Machine Runtime gave an answer that cannot be read.' };
  };
}

function on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
  if (!isEventName(event)) throw new TypeError(`Unknown event: ${String(event)}`);
  if (typeof listener !== 'function') throw new TypeError('The listener must be a function.');
  const relay = (_event: IpcRendererEvent, message: BridgeEvent) => {
    if (message && message.event === event) listener(message.payload as EventPayload<E>);
  };
  ipcRenderer.on(IPC_EVENT_CHANNEL, relay);
  return () => {
    ipcRenderer.removeListener(IPC_EVENT_CHANNEL, relay);
  };
}

export function buildRuntimeApi(): RuntimeApi {
  const api: Record<string, unknown> = {};
  for (const method of METHOD_NAMES) api[method] = call(method);
  api.on = on;
  return Object.freeze(api) as unknown as RuntimeApi;
}

contextBridge.exposeInMainWorld('runtime', buildRuntimeApi());
