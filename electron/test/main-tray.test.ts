// The tray shows the machine's state: Online, Offline or Not registered.
import { describe, expect, it, vi } from 'vitest';
import type { DesktopState } from '../../protocol/desktop-api.ts';

const fake = vi.hoisted(() => ({ trays: [] as { image: string; tooltip: string; menu: { label?: string }[] }[] }));

vi.mock('electron', () => ({
  nativeImage: { createFromPath: (p: string) => p },
  Menu: { buildFromTemplate: (items: unknown) => items },
  Tray: class {
    record = { image: '', tooltip: '', menu: [] as { label?: string }[] };
    constructor(image: string) {
      this.record.image = image;
      fake.trays.push(this.record);
    }
    on() {}
    setImage(image: string) {
      this.record.image = image;
    }
    setToolTip(tooltip: string) {
      this.record.tooltip = tooltip;
    }
    setContextMenu(menu: { label?: string }[]) {
      this.record.menu = menu;
    }
    destroy() {}
  },
}));

const { createMachineTray, trayStatus } = await import('../main/tray.ts');

const machine = { id: '0b7e3f3c-54a5-4d58-9b8e-5a2f0f1f6a10', name: 'BUILD-01', description: '', environmentId: '0b7e3f3c-54a5-4d58-9b8e-5a2f0f1f6a11', environmentName: 'Default' };

describe('tray', () => {
  it('maps the connection to Online, Offline or Not registered', () => {
    expect(trayStatus({ machine: null, connection: 'NotRegistered' })).toBe('Not registered');
    expect(trayStatus({ machine, connection: 'Online' })).toBe('Online');
    expect(trayStatus({ machine, connection: 'Connecting' })).toBe('Offline');
    expect(trayStatus({ machine, connection: 'Offline' })).toBe('Offline');
  });

  it('changes its icon, tooltip and menu with the state', () => {
    const tray = createMachineTray({ iconDir: '/icons', onOpen: () => {}, onQuit: () => {} });
    const record = fake.trays.at(-1)!;
    expect(record.image).toBe('/icons/not-registered.png');
    expect(record.tooltip).toBe('Machine Runtime — Not registered');

    tray.update({ machine, connection: 'Online' } as DesktopState);
    expect(record.image).toBe('/icons/online.png');
    expect(record.tooltip).toBe('Machine Runtime — BUILD-01: Online');
    expect(record.menu.map((item) => item.label)).toContain('Open Machine Runtime');

    tray.update({ machine, connection: 'Offline' } as DesktopState);
    expect(record.image).toBe('/icons/offline.png');
  });
});
