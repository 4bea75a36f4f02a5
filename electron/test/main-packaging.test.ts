// Packaging cannot run here (electron-builder downloads Electron), so its configuration is
// checked instead: electron-builder.yml against electron-builder's own schema, the targets, the
// files the app needs at run time, and the afterPack hook that flips the Electron fuses.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type * as Fuses from '@electron/fuses';

const root = path.resolve(import.meta.dirname, '../..');
const require = createRequire(import.meta.url);
const yaml = require('js-yaml') as { load(text: string): unknown };
const config = yaml.load(readFileSync(path.join(root, 'electron-builder.yml'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const flipped = vi.hoisted(() => [] as { path: string; config: Record<string, unknown> }[]);
vi.mock('@electron/fuses', async (importOriginal) => {
  const real = await importOriginal<typeof Fuses>();
  return { ...real, flipFuses: async (file: string, fuseConfig: Record<string, unknown>) => flipped.push({ path: file, config: fuseConfig }) };
});

describe('electron-builder.yml', () => {
  it('is valid for electron-builder', async () => {
    const { validateConfiguration } = require('app-builder-lib/out/util/config/config');
    const { DebugLogger } = require('builder-util');
    await expect(validateConfiguration(config, new DebugLogger(false))).resolves.toBeUndefined();
  });

  it('builds NSIS, dmg, AppImage and deb', () => {
    const names = (target: unknown) => (Array.isArray(target) ? target : [target]).map((t) => (typeof t === 'string' ? t : t.target));
    expect(names(config.win.target)).toEqual(['nsis']);
    expect(names(config.mac.target)).toEqual(['dmg']);
    expect(names(config.linux.target).sort()).toEqual(['AppImage', 'deb']);
    expect(config.asar).toBe(true);
  });

  it('packs what the main process loads at run time, and the icons exist', () => {
    expect(config.files).toEqual(expect.arrayContaining(['dist/renderer/**/*', 'dist/electron/**/*', 'assets/tray/**/*', 'package.json']));
    expect(existsSync(path.join(root, 'assets', 'icon.png'))).toBe(true);
    for (const status of ['online', 'offline', 'not-registered']) {
      expect(existsSync(path.join(root, 'assets', 'tray', `${status}.png`)), status).toBe(true);
      expect(existsSync(path.join(root, 'assets', 'tray', `${status}@2x.png`)), status).toBe(true);
    }
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(pkg.main).toBe('dist/electron/main/main.js');
  });
});

describe('afterPack fuses hook', () => {
  const hookPath: string = path.join(root, config.afterPack);

  it('flips the security fuses in the packed executable of each platform', async () => {
    const { FuseV1Options } = await import('@electron/fuses');
    const hook = await import(hookPath);
    const packager = { appInfo: { productFilename: 'Machine Runtime' }, executableName: 'machine-runtime' };
    await hook.default({ appOutDir: '/out/linux-unpacked', electronPlatformName: 'linux', arch: 1, packager });
    await hook.default({ appOutDir: '/out/win-unpacked', electronPlatformName: 'win32', arch: 1, packager });
    await hook.default({ appOutDir: '/out/mac-arm64', electronPlatformName: 'darwin', arch: 3, packager });

    expect(flipped.map((f) => f.path)).toEqual([
      path.join('/out/linux-unpacked', 'machine-runtime'),
      path.join('/out/win-unpacked', 'Machine Runtime.exe'),
      path.join('/out/mac-arm64', 'Machine Runtime.app'),
    ]);
    for (const { config: fuses } of flipped) {
      expect(fuses[FuseV1Options.RunAsNode]).toBe(false);
      expect(fuses[FuseV1Options.EnableCookieEncryption]).toBe(true);
      expect(fuses[FuseV1Options.EnableEmbeddedAsarIntegrityValidation]).toBe(true);
      expect(fuses[FuseV1Options.OnlyLoadAppFromAsar]).toBe(true);
      expect(fuses[FuseV1Options.EnableNodeOptionsEnvironmentVariable]).toBe(false);
      expect(fuses[FuseV1Options.EnableNodeCliInspectArguments]).toBe(false);
    }
    expect(flipped[2]?.config.resetAdHocDarwinSignature).toBe(true);
    expect(flipped[0]?.config.resetAdHocDarwinSignature).toBe(false);
  });
});
