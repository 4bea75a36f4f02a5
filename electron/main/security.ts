/**
 * Everything that keeps the page in its box: no navigation away from the app, no new windows
 * (https links go to the OS browser after validation), no permission ever granted, no webview,
 * no downloads. Applied to every webContents the app creates (`web-contents-created`) and to
 * the default session.
 */
import { shell, type Session, type WebContents } from 'electron';

/** An address we are willing to hand to the OS browser: plain https, no credentials. */
export function isSafeExternalUrl(url: string): boolean {
  if (typeof url !== 'string' || url.length > 2048) return false;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' && !parsed.username && !parsed.password && parsed.hostname.length > 0;
  } catch {
    return false;
  }
}

export function openExternalIfSafe(url: string): boolean {
  if (!isSafeExternalUrl(url)) return false;
  // Only plain https addresses reach here (checked just above).
  void shell.openExternal(url); // eng-disable OPEN_EXTERNAL_JS_CHECK
  return true;
}

export function hardenSession(session: Session): void {
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
  session.setDevicePermissionHandler(() => false);
  session.on('will-download', (event) => event.preventDefault());
}

export function hardenWebContents(contents: WebContents): void {
  contents.on('will-navigate', (event) => event.preventDefault());
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    openExternalIfSafe(url);
    return { action: 'deny' };
  });
}
