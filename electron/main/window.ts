/** The app's one window. */
import { BrowserWindow, nativeTheme, type WebPreferences } from 'electron';
import { APP_ENTRY_URL } from './app-protocol.ts';
import { hardenWebContents } from './security.ts';
import { trustWebContents } from './trusted-sender.ts';

export function webPreferences(preloadPath: string): WebPreferences {
  return {
    preload: preloadPath,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    webviewTag: false,
    navigateOnDragDrop: false,
    safeDialogs: true,
    spellcheck: false,
  };
}

export function createMainWindow(options: { preloadPath: string; iconPath?: string }): BrowserWindow {
  const window = new BrowserWindow({
    title: 'Machine Runtime',
    width: 1180,
    height: 780,
    minWidth: 760,
    minHeight: 520,
    show: false,
    autoHideMenuBar: true,
    backgroundColor: nativeTheme.shouldUseDarkColors ? '#1f1f1f' : '#fafafa',
    ...(options.iconPath ? { icon: options.iconPath } : {}),
    webPreferences: webPreferences(options.preloadPath),
  });
  hardenWebContents(window.webContents);
  trustWebContents(window.webContents);
  window.once('ready-to-show', () => window.show());
  void window.loadURL(APP_ENTRY_URL);
  return window;
}
