/**
 * The IPC layer: one `ipcMain.handle` per method of protocol/desktop-api.ts, all through ONE
 * wrapper (Podman Desktop's `ipcHandle` idea) that
 *   1. refuses a message whose sender is not our page (`UntrustedSender`),
 *   2. validates the arguments against the method's schema (`ValidationFailed`) — they are
 *      `unknown` until then,
 *   3. calls the DesktopService, and
 *   4. answers `{ ok: true, result }` or `{ ok: false, error: { code, message } }`: a handler's
 *      failure never crosses IPC as a rejection (Electron would flatten it to a string).
 */
import type { IpcMainInvokeEvent } from 'electron';
import {
  IPC_EVENT_CHANNEL,
  METHOD_NAMES,
  ipcChannel,
  isDesktopErrorEnvelope,
  toErrorEnvelope,
  validateParams,
  type DesktopErrorEnvelope,
  type DesktopHandlers,
  type IpcReply,
  type MethodName,
} from '../../protocol/desktop-api.ts';
import type { DesktopService } from './desktop-service.ts';
import type { SenderEvent } from './trusted-sender.ts';

/** The part of `ipcMain` this layer uses (tests pass a recorder). */
export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown): void;
  removeHandler(channel: string): void;
}

export interface IpcOptions {
  isTrustedSender: (event: SenderEvent) => boolean;
  /** Unexpected failures (not a DesktopErrorEnvelope); never given the params (they hold passwords). */
  logError?: (method: MethodName, error: unknown) => void;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Any failure → a serialisable envelope with a stable code. */
export function envelopeFromError(error: unknown): DesktopErrorEnvelope {
  if (isDesktopErrorEnvelope(error)) return toErrorEnvelope(error);
  const code = (error as { code?: unknown; cause?: { code?: unknown } } | null)?.code ?? (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) {
    return { code: 'Unreachable', message: 'The server cannot be reached.' };
  }
  return toErrorEnvelope(error);
}

/** Runs one call through the checks; exported for the browser-mode host's reuse and for tests. */
export async function dispatchCall(
  handlers: DesktopHandlers,
  method: MethodName,
  args: readonly unknown[],
  options: Pick<IpcOptions, 'logError'> = {},
): Promise<IpcReply> {
  if (args.length > 1) {
    return { ok: false, error: { code: 'ValidationFailed', message: `${method} takes one params object.` } };
  }
  const checked = validateParams(method, args[0]);
  if (!checked.ok) return { ok: false, error: checked.error };
  try {
    const handler = handlers[method] as (params: unknown) => Promise<unknown>;
    const result = await handler.call(handlers, checked.params);
    return { ok: true, result };
  } catch (error) {
    if (!isDesktopErrorEnvelope(error)) options.logError?.(method, error);
    return { ok: false, error: envelopeFromError(error) };
  }
}

/** Registers every method; returns the function that removes them. */
export function registerDesktopIpc(ipcMain: IpcMainLike, service: DesktopService, options: IpcOptions): () => void {
  for (const method of METHOD_NAMES) {
    ipcMain.handle(ipcChannel(method), async (event, ...args): Promise<IpcReply> => {
      if (!options.isTrustedSender(event)) {
        return { ok: false, error: { code: 'UntrustedSender', message: 'This message did not come from the Machine Runtime window.' } };
      }
      return dispatchCall(service, method, args, options);
    });
  }
  return () => {
    for (const method of METHOD_NAMES) ipcMain.removeHandler(ipcChannel(method));
  };
}

/** The part of a webContents that receives events. */
export interface EventTarget {
  isDestroyed(): boolean;
  send(channel: string, ...args: unknown[]): void;
}

/** Forwards the service's events to the given windows' pages. */
export function forwardDesktopEvents(service: DesktopService, targets: () => Iterable<EventTarget>): () => void {
  return service.subscribe((event, payload) => {
    for (const target of targets()) {
      if (!target.isDestroyed()) target.send(IPC_EVENT_CHANNEL, { event, payload });
    }
  });
}
