/**
 * Settings inside Electron: electron-store, behind the runtime core's `Settings` interface
 * (electron/runtime/settings.ts). It writes the same `settings.json` in the same profile folder
 * as the CLI's `conf` store, so the desktop app and `machine-runtime` share one machine.
 * Validation of keys and values is the runtime's own (MemorySettings applies the patch).
 */
import Store from 'electron-store';
import { MemorySettings, SettingsError, type RuntimeSettings, type SettingKey, type Settings } from '../runtime/settings.ts';

export class ElectronStoreSettings implements Settings {
  readonly location: string;
  private readonly store: Store<Record<string, unknown>>;

  constructor(profileDir: string) {
    this.store = new Store<Record<string, unknown>>({
      cwd: profileDir,
      name: 'settings',
      accessPropertiesByDotNotation: false,
      clearInvalidConfig: false,
      watch: false,
    });
    this.location = this.store.path;
  }

  get<K extends SettingKey>(key: K): RuntimeSettings[K] {
    return this.all()[key];
  }
  set<K extends SettingKey>(key: K, value: RuntimeSettings[K] | undefined): void {
    this.update({ [key]: value } as Partial<RuntimeSettings>);
  }
  update(patch: Partial<RuntimeSettings>): void {
    const next = new MemorySettings(this.all());
    next.update(patch);
    try {
      this.store.store = next.all() as Record<string, unknown>;
    } catch (error) {
      throw new SettingsError(`The settings file ${this.location} cannot be written: ${(error as Error).message}.`, { cause: error });
    }
  }
  all(): RuntimeSettings {
    try {
      return new MemorySettings(this.store.store as RuntimeSettings).all();
    } catch (error) {
      throw new SettingsError(`The settings file ${this.location} is damaged (${(error as Error).message}); fix or delete it.`, { cause: error });
    }
  }
}
