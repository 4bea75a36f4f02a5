/**
 * The Electron main process: one window that loads the renderer from `app://`, the IPC layer in
 * front of the DesktopService (which hosts the runtime core and its agent), and a tray icon.
 * The window can close while the agent keeps the machine online; Quit is in the tray menu.
 *
 * Built by `npm run build:main` into dist/electron/main/main.js (package.json `main`).
 */
import os from 'node:os';
import path from 'node:path';
import { app, BrowserWindow, ipcMain, protocol, session } from 'electron';
import { resolveProfileDir } from '../runtime/settings.ts';
import { APP_SCHEME, APP_SCHEME_PRIVILEGES, createAppProtocolHandler } from './app-protocol.ts';
import { createUnavailableDesktopService, type DesktopService } from './desktop-service.ts';
import { forwardDesktopEvents, registerDesktopIpc } from './ipc.ts';
import { hardenSession, hardenWebContents } from './security.ts';
import { ElectronStoreSettings } from './settings-store.ts';
import { createMachineTray, type MachineTray } from './tray.ts';
import { isTrustedSender } from './trusted-sender.ts';
import { createMainWindow } from './window.ts';

interface ServiceContext {
  profileDir: string;
  settings: ElectronStoreSettings;
  appVersion: string;
  hostName: string;
}

/**
 * THE PLUG POINT for the runtime core: the DesktopService that implements
 * protocol/desktop-api.ts on top of electron/runtime (cloud client, identity, group crypto,
 * agent), given this profile's settings. If it fails to start, the window shows a working shell
 * whose actions answer `ServiceUnavailable` with the reason.
 */
async function loadDesktopService(context: ServiceContext): Promise<DesktopService> {
  const { createDesktopService } = await import('../runtime/desktop-service.ts');
  return createDesktopService({
    profileDir: context.profileDir,
    profile: { settings: () => context.settings },
    appVersion: context.appVersion,
    hostName: context.hostName,
  });
}

function start(): void {
  protocol.registerSchemesAsPrivileged([APP_SCHEME_PRIVILEGES]);
  app.enableSandbox();

  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }

  const appRoot = app.getAppPath();
  const rendererRoot = path.join(appRoot, 'dist', 'renderer');
  const preloadPath = path.join(appRoot, 'dist', 'electron', 'preload', 'preload.cjs');
  const iconDir = path.join(appRoot, 'assets', 'tray');

  let window: BrowserWindow | null = null;
  let tray: MachineTray | null = null;
  let service: DesktopService | null = null;
  let quitting = false;

  const showWindow = () => {
    if (!window || window.isDestroyed()) {
      window = createMainWindow({ preloadPath, iconPath: path.join(appRoot, 'assets', 'icon.png') });
      window.on('close', (event) => {
        // Closing the window hides it: the agent keeps the machine online from the tray.
        if (!quitting && tray) {
          event.preventDefault();
          window?.hide();
        }
      });
      window.on('closed', () => {
        window = null;
      });
    } else {
      if (window.isMinimized()) window.restore();
      window.show();
      window.focus();
    }
  };

  app.on('second-instance', showWindow);
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents));
  app.on('window-all-closed', () => {
    // Stay alive in the tray.
  });
  app.on('activate', showWindow);
  app.on('before-quit', () => {
    quitting = true;
  });
  app.on('will-quit', (event) => {
    if (!service) return;
    const stopping = service;
    service = null;
    event.preventDefault();
    void stopping.dispose().finally(() => app.quit());
  });

  void app.whenReady().then(async () => {
    hardenSession(session.defaultSession);
    protocol.handle(APP_SCHEME, createAppProtocolHandler(rendererRoot));

    const profileDir = resolveProfileDir();
    const context: ServiceContext = {
      profileDir,
      settings: new ElectronStoreSettings(profileDir),
      appVersion: app.getVersion(),
      hostName: os.hostname(),
    };
    service = await loadDesktopService(context).catch((error: unknown) =>
      createUnavailableDesktopService({
        appVersion: context.appVersion,
        hostName: context.hostName,
        reason: `The runtime could not start: ${(error as Error).message}`,
      }),
    );

    registerDesktopIpc(ipcMain, service, {
      isTrustedSender,
      logError: (method, error) => console.error(`desktop API ${method} failed:`, error),
    });
    forwardDesktopEvents(service, () => BrowserWindow.getAllWindows().map((w) => w.webContents));

    tray = createMachineTray({
      iconDir,
      onOpen: showWindow,
      onQuit: () => app.quit(),
    });
    const activeTray = tray;
    service.subscribe((event, payload) => {
      if (event === 'stateChanged') activeTray.update(payload as Parameters<MachineTray['update']>[0]);
    });
    activeTray.update(await service.getState({}));

    showWindow();
  });
}

start();
