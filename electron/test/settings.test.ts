import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfSettings, MemorySettings, SettingsError, defaultProfileDir, resolveProfileDir, type Settings } from '../runtime/settings.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'mr-settings-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('resolveProfileDir', () => {
  it('prefers --profile, then MACHINE_RUNTIME_HOME, then the user data folder', () => {
    const env = { MACHINE_RUNTIME_HOME: '/srv/mr-home', XDG_DATA_HOME: '/home/u/.data' };
    expect(resolveProfileDir('/tmp/vm1', env)).toBe(path.resolve('/tmp/vm1'));
    expect(resolveProfileDir(undefined, env)).toBe(path.resolve('/srv/mr-home'));
    expect(resolveProfileDir('', env)).toBe(path.resolve('/srv/mr-home'));
    expect(resolveProfileDir(undefined, { XDG_DATA_HOME: '/home/u/.data' })).toBe(defaultProfileDir({ XDG_DATA_HOME: '/home/u/.data' }));
  });

  it('makes a relative --profile absolute', () => {
    expect(resolveProfileDir('profiles/vm1', {})).toBe(path.join(process.cwd(), 'profiles', 'vm1'));
  });

  it('uses each platform\'s data folder', () => {
    const home = os.homedir();
    expect(defaultProfileDir({}, 'linux')).toBe(path.join(home, '.local', 'share', 'machine-runtime'));
    expect(defaultProfileDir({ XDG_DATA_HOME: '/x' }, 'linux')).toBe(path.join('/x', 'machine-runtime'));
    expect(defaultProfileDir({}, 'darwin')).toBe(path.join(home, 'Library', 'Application Support', 'machine-runtime'));
    expect(defaultProfileDir({ APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'win32')).toBe(
      path.join('C:\\Users\\u\\AppData\\Roaming', 'machine-runtime'),
    );
  });
});

function behavesAsSettings(open: () => Settings) {
  it('gets, sets, updates and removes typed settings', () => {
    const settings = open();
    expect(settings.get('serverUrl')).toBeUndefined();
    settings.set('serverUrl', 'http://127.0.0.1:8080');
    settings.update({ machineId: 'm-1', machineName: 'VM 1', groupId: 'g-1' });
    expect(settings.all()).toEqual({ serverUrl: 'http://127.0.0.1:8080', machineId: 'm-1', machineName: 'VM 1', groupId: 'g-1' });
    settings.update({ groupId: undefined, groupName: 'ignored-when-undefined-next' });
    settings.set('groupName', undefined);
    expect(settings.get('groupId')).toBeUndefined();
    expect(settings.all()).toEqual({ serverUrl: 'http://127.0.0.1:8080', machineId: 'm-1', machineName: 'VM 1' });
  });

  it('refuses unknown keys and non-string values', () => {
    const settings = open();
    expect(() => settings.update({ refreshToken: 'x' } as never)).toThrow(/unknown setting/);
    expect(() => settings.update({ machineId: 5 } as never)).toThrow(/must be a string/);
  });
}

describe('MemorySettings', () => {
  behavesAsSettings(() => new MemorySettings());
});

describe('ConfSettings', () => {
  behavesAsSettings(() => new ConfSettings(dir));

  it('persists across reopening, as settings.json in the profile folder', () => {
    new ConfSettings(dir).update({ serverUrl: 'http://cloud:8080', userEmail: 'it@example.com' });
    const again = new ConfSettings(dir);
    expect(again.location).toBe(path.join(dir, 'settings.json'));
    expect(again.get('userEmail')).toBe('it@example.com');
    expect(JSON.parse(readFileSync(again.location, 'utf8'))).toEqual({ serverUrl: 'http://cloud:8080', userEmail: 'it@example.com' });
  });

  it('keeps two profiles apart', () => {
    const vm1 = new ConfSettings(path.join(dir, 'vm1'));
    const vm2 = new ConfSettings(path.join(dir, 'vm2'));
    vm1.set('machineName', 'VM 1');
    vm2.set('machineName', 'VM 2');
    expect(new ConfSettings(path.join(dir, 'vm1')).get('machineName')).toBe('VM 1');
    expect(new ConfSettings(path.join(dir, 'vm2')).get('machineName')).toBe('VM 2');
  });

  it('sees changes made by another process of the same profile', () => {
    const cli = new ConfSettings(dir);
    const agent = new ConfSettings(dir);
    cli.set('groupId', 'g-2');
    expect(agent.get('groupId')).toBe('g-2');
  });

  it('reports a damaged file clearly', () => {
    writeFileSync(path.join(dir, 'settings.json'), '{ not json');
    expect(() => new ConfSettings(dir)).toThrow(SettingsError);
    expect(() => new ConfSettings(dir)).toThrow(/settings\.json is damaged/);
  });
});
