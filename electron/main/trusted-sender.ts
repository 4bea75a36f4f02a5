/**
 * Whether an IPC message comes from our own page (after GitHub Desktop's
 * main-process/trusted-ipc-sender.ts): the sending frame must be the main frame of one of the
 * app's windows, and that frame must show an `app://machine-runtime/…` page. A frame that
 * navigated elsewhere, an iframe, or a stray webContents is refused.
 */
import type { IpcMainEvent, IpcMainInvokeEvent, WebContents, WebFrameMain } from 'electron';
import { isAppUrl } from './app-protocol.ts';

const trusted = new Set<number>();

/** Marks a window's webContents as ours; forgotten when it is destroyed. */
export function trustWebContents(contents: WebContents): void {
  const id = contents.id;
  trusted.add(id);
  contents.once('destroyed', () => trusted.delete(id));
}

type FrameLike = Pick<WebFrameMain, 'url' | 'parent' | 'processId' | 'routingId'>;

/** Electron may hand out distinct wrapper objects for one frame: compare identities, then ids. */
function isMainFrame(frame: FrameLike, main: FrameLike | null | undefined): boolean {
  if (!main) return false;
  if (frame === main) return true;
  return frame.parent === null && frame.processId === main.processId && frame.routingId === main.routingId;
}

export type SenderEvent = Pick<IpcMainInvokeEvent | IpcMainEvent, 'sender' | 'senderFrame'>;

export function isTrustedSender(event: SenderEvent): boolean {
  const frame = event.senderFrame;
  if (!frame || !event.sender) return false;
  if (!trusted.has(event.sender.id)) return false;
  if (!isMainFrame(frame, event.sender.mainFrame)) return false;
  return isAppUrl(frame.url);
}
