/** The tray icon: the machine's state at a glance, and a way back to the window. */
import path from 'node:path';
import { Menu, Tray, nativeImage } from 'electron';
import type { DesktopState } from '../../protocol/desktop-api.ts';

export type TrayStatus = 'Online' | 'Offline' | 'Not registered';

export function trayStatus(state: Pick<DesktopState, 'machine' | 'connection'>): TrayStatus {
  if (!state.machine || state.connection === 'NotRegistered') return 'Not registered';
  return state.connection === 'Online' ? 'Online' : 'Offline';
}

const ICON_FILE: Record<TrayStatus, string> = {
  Online: 'online.png',
  Offline: 'offline.png',
  'Not registered': 'not-registered.png',
};

export interface MachineTray {
  update(state: DesktopState): void;
  destroy(): void;
}

export function createMachineTray(options: { iconDir: string; onOpen: () => void; onQuit: () => void }): MachineTray {
  const image = (status: TrayStatus) => nativeImage.createFromPath(path.join(options.iconDir, ICON_FILE[status]));
  const tray = new Tray(image('Not registered'));
  tray.on('click', options.onOpen);
  let shown: string | null = null;

  const update = (state: DesktopState) => {
    const status = trayStatus(state);
    const label = state.machine ? `${state.machine.name}: ${status}` : status;
    if (label === shown) return;
    shown = label;
    tray.setImage(image(status));
    tray.setToolTip(`Machine Runtime — ${label}`);
    tray.setContextMenu(
      Menu.buildFromTemplate([
        { label, enabled: false },
        { type: 'separator' },
        { label: 'Open Machine Runtime', click: options.onOpen },
        { label: 'Quit', click: options.onQuit },
      ]),
    );
  };
  update({ machine: null, connection: 'NotRegistered' } as DesktopState);
  return { update, destroy: () => tray.destroy() };
}
