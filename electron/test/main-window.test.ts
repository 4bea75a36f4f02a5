// The window's web preferences and the handlers that keep the page in its box, with `electron`
// mocked (its binary cannot run here).
import { beforeEach, describe, expect, it, vi, type Mock } from 'vitest';

const electron = vi.hoisted(() => {
  const created: { options: Record<string, unknown>; loadURL: Mock }[] = [];
  return { created, openExternal: null as unknown as Mock };
});

vi.mock('electron', () => {
  class FakeWebContents {
    id = 1;
    listeners = new Map<string, (...args: unknown[]) => unknown>();
    windowOpenHandler: ((details: { url: string }) => unknown) | null = null;
    on(name: string, listener: (...args: unknown[]) => unknown) {
      this.listeners.set(name, listener);
      return this;
    }
    once(name: string, listener: (...args: unknown[]) => unknown) {
      return this.on(name, listener);
    }
    setWindowOpenHandler(handler: (details: { url: string }) => unknown) {
      this.windowOpenHandler = handler;
    }
  }
  class BrowserWindow {
    webContents = new FakeWebContents();
    loadURL = vi.fn(async () => {});
    constructor(public options: Record<string, unknown>) {
      electron.created.push(this as never);
    }
    once() {
      return this;
    }
    show() {}
  }
  electron.openExternal = vi.fn(async () => {});
  return {
    BrowserWindow,
    nativeTheme: { shouldUseDarkColors: false },
    shell: { openExternal: electron.openExternal },
  };
});

const { createMainWindow } = await import('../main/window.ts');
const { hardenSession, isSafeExternalUrl } = await import('../main/security.ts');

interface FakeWindow {
  options: { webPreferences: Record<string, unknown> } & Record<string, unknown>;
  loadURL: ReturnType<typeof vi.fn>;
  webContents: {
    listeners: Map<string, (...args: unknown[]) => unknown>;
    windowOpenHandler: (details: { url: string }) => { action: string };
  };
}

function openWindow(): FakeWindow {
  createMainWindow({ preloadPath: '/app/dist/electron/preload/preload.cjs' });
  return electron.created.at(-1) as unknown as FakeWindow;
}

beforeEach(() => {
  electron.openExternal.mockClear();
});

describe('main window', () => {
  it('isolates the page: context isolation, sandbox, no Node, web security on', () => {
    const prefs = openWindow().options.webPreferences;
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      disableBlinkFeatures: 'Auxclick',
      preload: '/app/dist/electron/preload/preload.cjs',
    });
  });

  it('loads the renderer from the app:// protocol, not file://', () => {
    const window = openWindow();
    expect(window.loadURL).toHaveBeenCalledWith('app://machine-runtime/index.html');
  });

  it('denies navigation away from the page', () => {
    const { listeners } = openWindow().webContents;
    for (const name of ['will-navigate', 'will-redirect', 'will-attach-webview']) {
      const event = { preventDefault: vi.fn() };
      listeners.get(name)?.(event, 'https://evil.example/');
      expect(event.preventDefault, name).toHaveBeenCalled();
    }
  });

  it('denies every new window and opens only plain https links in the OS browser', () => {
    const { windowOpenHandler } = openWindow().webContents;
    expect(windowOpenHandler({ url: 'https://example.com/docs' })).toEqual({ action: 'deny' });
    expect(electron.openExternal).toHaveBeenCalledWith('https://example.com/docs');
    for (const url of ['http://example.com/', 'file:///etc/passwd', 'javascript:alert(1)', 'https://user:pw@example.com/', 'smb://host/share', 'app://machine-runtime/index.html']) {
      electron.openExternal.mockClear();
      expect(windowOpenHandler({ url })).toEqual({ action: 'deny' });
      expect(electron.openExternal, url).not.toHaveBeenCalled();
    }
  });

  it('validates external addresses', () => {
    expect(isSafeExternalUrl('https://learn.example.org/page?x=1')).toBe(true);
    expect(isSafeExternalUrl('not a url')).toBe(false);
    expect(isSafeExternalUrl(`https://example.com/${'a'.repeat(3000)}`)).toBe(false);
  });
});

describe('session', () => {
  it('denies every permission request and check, and every download', () => {
    const handlers: Record<string, (...args: never[]) => unknown> = {};
    const downloads: ((event: { preventDefault: () => void }) => void)[] = [];
    const session = {
      setPermissionRequestHandler: (h: never) => (handlers.request = h),
      setPermissionCheckHandler: (h: never) => (handlers.check = h),
      setDevicePermissionHandler: (h: never) => (handlers.device = h),
      on: (name: string, listener: never) => name === 'will-download' && downloads.push(listener),
    };
    hardenSession(session as never);

    for (const permission of ['media', 'geolocation', 'notifications', 'openExternal', 'clipboard-read']) {
      const callback = vi.fn();
      (handlers.request as (...args: unknown[]) => void)({}, permission, callback, {});
      expect(callback, permission).toHaveBeenCalledWith(false);
    }
    expect((handlers.check as (...args: unknown[]) => unknown)({}, 'media', 'app://machine-runtime', {})).toBe(false);
    expect((handlers.device as (...args: unknown[]) => unknown)({})).toBe(false);
    const event = { preventDefault: vi.fn() };
    downloads[0]?.(event);
    expect(event.preventDefault).toHaveBeenCalled();
  });
});
