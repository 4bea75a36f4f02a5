/**
 * A profile's settings: which server, who signed in, which machine this is and its group. Plain
 * JSON (`settings.json` in the profile folder, via `conf`); never a secret (those are in the
 * SecretStore). Inside Electron an electron-store implementation comes behind the same interface.
 *
 * The profile folder holds one simulated machine: `--profile DIR` > MACHINE_RUNTIME_HOME > the
 * user's data folder. Several folders let several machines live on one host (tests, benchmarks).
 */
import os from 'node:os';
import path from 'node:path';
import Conf from 'conf';

export interface RuntimeSettings {
  /** Base address of the cloud, e.g. `http://127.0.0.1:8080` (no `/api/v1`, no trailing slash). */
  serverUrl?: string;
  /** The signed-in user (their refresh token is in the SecretStore). */
  userId?: string;
  userEmail?: string;
  userDisplayName?: string;
  /** The environment this machine is registered in (or the user's default one). */
  environmentId?: string;
  /** Set once this machine is registered. */
  machineId?: string;
  machineName?: string;
  machineDescription?: string;
  /** The fingerprint sent at registration (protocol/machine-assertion.ts). */
  machineFingerprint?: string;
  registeredAt?: string;
  /** The group this machine is a member of. */
  groupId?: string;
  groupName?: string;
}

export type SettingKey = keyof RuntimeSettings;

export interface Settings {
  /** The settings file, or `memory`. */
  readonly location: string;
  get<K extends SettingKey>(key: K): RuntimeSettings[K];
  /** `undefined` removes the setting. */
  set<K extends SettingKey>(key: K, value: RuntimeSettings[K] | undefined): void;
  /** Sets several at once (one write); keys whose value is `undefined` are removed. */
  update(patch: Partial<RuntimeSettings>): void;
  all(): RuntimeSettings;
}

const KEYS: readonly SettingKey[] = [
  'serverUrl',
  'userId',
  'userEmail',
  'userDisplayName',
  'environmentId',
  'machineId',
  'machineName',
  'machineDescription',
  'machineFingerprint',
  'registeredAt',
  'groupId',
  'groupName',
];

function pick(raw: Record<string, unknown>): RuntimeSettings {
  const out: Record<string, string> = {};
  for (const key of KEYS) {
    const value = raw[key];
    if (typeof value === 'string') out[key] = value;
  }
  return out as RuntimeSettings;
}

function applyPatch(current: RuntimeSettings, patch: Partial<RuntimeSettings>): RuntimeSettings {
  const next: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (!KEYS.includes(key as SettingKey)) throw new TypeError(`unknown setting: ${key}`);
    if (value === undefined || value === null) delete next[key];
    else if (typeof value !== 'string') throw new TypeError(`setting ${key} must be a string`);
    else next[key] = value;
  }
  return next as RuntimeSettings;
}

export class MemorySettings implements Settings {
  readonly location = 'memory';
  private values: RuntimeSettings;

  constructor(initial: RuntimeSettings = {}) {
    this.values = pick({ ...initial });
  }
  get<K extends SettingKey>(key: K): RuntimeSettings[K] {
    return this.values[key];
  }
  set<K extends SettingKey>(key: K, value: RuntimeSettings[K] | undefined): void {
    this.update({ [key]: value } as Partial<RuntimeSettings>);
  }
  update(patch: Partial<RuntimeSettings>): void {
    this.values = applyPatch(this.values, patch);
  }
  all(): RuntimeSettings {
    return { ...this.values };
  }
}

export class SettingsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SettingsError';
  }
}

export const SETTINGS_FILE_NAME = 'settings.json';

/** `settings.json` in the profile folder. Each read goes to the file (another process may have changed it). */
export class ConfSettings implements Settings {
  readonly location: string;
  private readonly conf: Conf<Record<string, unknown>>;

  constructor(profileDir: string) {
    const cwd = path.resolve(profileDir);
    this.location = path.join(cwd, SETTINGS_FILE_NAME);
    try {
      // conf reads the file here already: a damaged file is reported at open, not at first use.
      this.conf = new Conf<Record<string, unknown>>({
        cwd,
        configName: 'settings',
        accessPropertiesByDotNotation: false,
        clearInvalidConfig: false,
        watch: false,
      });
    } catch (error) {
      throw damaged(this.location, error);
    }
  }

  get<K extends SettingKey>(key: K): RuntimeSettings[K] {
    return this.read()[key];
  }
  set<K extends SettingKey>(key: K, value: RuntimeSettings[K] | undefined): void {
    this.update({ [key]: value } as Partial<RuntimeSettings>);
  }
  update(patch: Partial<RuntimeSettings>): void {
    const next = applyPatch(this.read(), patch);
    try {
      this.conf.store = next as Record<string, unknown>;
    } catch (error) {
      throw new SettingsError(`The settings file ${this.location} cannot be written: ${(error as Error).message}.`, { cause: error });
    }
  }
  all(): RuntimeSettings {
    return this.read();
  }

  private read(): RuntimeSettings {
    try {
      return pick(this.conf.store);
    } catch (error) {
      throw damaged(this.location, error);
    }
  }
}

function damaged(file: string, error: unknown): SettingsError {
  return new SettingsError(`The settings file ${file} is damaged (${(error as Error).message}); fix or delete it.`, { cause: error });
}

/** The user's data folder for this app: where a profile lives when no other is named. */
export function defaultProfileDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const home = os.homedir();
  const base =
    platform === 'win32'
      ? (env.APPDATA ?? path.join(home, 'AppData', 'Roaming'))
      : platform === 'darwin'
        ? path.join(home, 'Library', 'Application Support')
        : (env.XDG_DATA_HOME || path.join(home, '.local', 'share'));
  return path.join(base, 'machine-runtime');
}

/** The profile folder: `--profile DIR` > MACHINE_RUNTIME_HOME > the user's data folder. Always absolute. */
export function resolveProfileDir(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = option?.trim() || env.MACHINE_RUNTIME_HOME?.trim() || defaultProfileDir(env);
  return path.resolve(chosen);
}
