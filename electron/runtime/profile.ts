/**
 * One machine's state on disk: a profile folder with its settings, its secret store and its
 * identity, and the cloud client that acts for it. The CLI, the agent and the desktop app all
 * open a profile through this facade, so they agree on where things are and how a machine is
 * registered or forgotten.
 *
 *   const profile = await RuntimeProfile.open({ profileDir: options.profile });
 *   const cloud = await profile.cloud(options.server);   // remembers --server
 *   await cloud.signIn(email, password);
 *   await profile.registerMachine(cloud, { name });
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Machine } from '../../protocol/api/machines.ts';
import { CloudClient, CloudError, normalizeServerUrl, type CloudClientOptions } from './cloud-client.ts';
import { withFileLock } from './file-lock.ts';
import {
  createMachineKeyPairs,
  deleteMachineKeys,
  loadMachineKeys,
  machineFingerprint,
  saveMachineKeys,
  signMachineAssertion,
  type MachineKeyPairs,
} from './identity.ts';
import { openSecretStore, type SecretStore, type SecretStoreKind, type SecretStorePreference } from './secret-store.ts';
import { ConfSettings, MemorySettings, resolveProfileDir, type RuntimeSettings, type Settings } from './settings.ts';

export interface OpenProfileOptions {
  /** `--profile DIR`; else MACHINE_RUNTIME_HOME; else the user's data folder. */
  profileDir?: string;
  /** Default `auto` (MACHINE_RUNTIME_SECRET_STORE may override it). */
  secretStore?: SecretStorePreference;
  /** Default `conf` (settings.json in the folder); Electron passes its electron-store one. */
  settings?: 'conf' | 'memory' | ((profileDir: string) => Settings);
  env?: NodeJS.ProcessEnv;
  /** Where the file-fallback warning goes (default stderr). */
  warn?: (line: string) => void;
  /** Passed to every cloud client this profile makes (retries, timeouts, user agent…). */
  client?: Omit<CloudClientOptions, 'serverUrl' | 'secrets' | 'machineAssertion' | 'refreshLock'>;
}

export interface RegisterMachineInput {
  name: string;
  description?: string;
  environmentId?: string;
  /** Enrol with a registration token instead of the signed-in user. */
  registrationToken?: string;
  os?: string;
  runtimeVersion?: string;
}

export interface ProfileStatus {
  profileDir: string;
  serverUrl: string | null;
  secretStore: { kind: SecretStoreKind; location: string };
  /** A refresh token is held (the server may still refuse it). */
  signedIn: boolean;
  user: { id: string | null; email: string; displayName: string | null } | null;
  machine: {
    id: string;
    name: string | null;
    environmentId: string | null;
    /** False when the OS machine id changed since registration (a copied profile, or a new OS install). */
    fingerprintMatches: boolean | null;
    hasKeys: boolean;
  } | null;
  group: { id: string; name: string | null; hasKey: boolean } | null;
}

export class RuntimeProfile {
  private readonly clients = new Map<string, CloudClient>();
  private fingerprintCache: Promise<string> | undefined;

  private constructor(
    readonly dir: string,
    readonly settings: Settings,
    readonly secrets: SecretStore,
    private readonly options: OpenProfileOptions,
  ) {}

  static async open(options: OpenProfileOptions = {}): Promise<RuntimeProfile> {
    const env = options.env ?? process.env;
    const dir = resolveProfileDir(options.profileDir, env);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const settings =
      typeof options.settings === 'function'
        ? options.settings(dir)
        : options.settings === 'memory'
          ? new MemorySettings()
          : new ConfSettings(dir);
    const secrets = await openSecretStore(dir, {
      ...(options.secretStore ? { prefer: options.secretStore } : {}),
      ...(options.warn ? { warn: options.warn } : {}),
      env,
    });
    return new RuntimeProfile(dir, settings, secrets, { ...options, env });
  }

  private get env(): NodeJS.ProcessEnv {
    return this.options.env ?? process.env;
  }

  // ── server ──

  /**
   * The server to talk to: `override` (--server), remembered for next time, else the one
   * remembered. Moving to another server forgets the user's session (it belongs to the old one).
   * Throws a TypeError (a usage error) when there is none or it is not an address.
   */
  async useServer(override?: string): Promise<string> {
    const remembered = this.settings.get('serverUrl');
    if (override === undefined || override.trim() === '') {
      if (!remembered) throw new TypeError('No server is known yet; give one with --server URL.');
      return remembered;
    }
    const serverUrl = normalizeServerUrl(override);
    if (serverUrl !== remembered) {
      if (remembered) {
        await this.secrets.delete('refresh-token');
        this.settings.update({ userId: undefined, userEmail: undefined, userDisplayName: undefined });
      }
      this.settings.set('serverUrl', serverUrl);
    }
    return serverUrl;
  }

  /** The cloud client for this profile (one per server address). */
  async cloud(serverOverride?: string): Promise<CloudClient> {
    const serverUrl = await this.useServer(serverOverride);
    let client = this.clients.get(serverUrl);
    if (!client) {
      client = new CloudClient({
        ...this.options.client,
        serverUrl,
        secrets: this.secrets,
        machineAssertion: () => this.machineAssertion(),
        refreshLock: (fn) => withFileLock(path.join(this.dir, 'refresh.lock'), fn),
      });
      this.clients.set(serverUrl, client);
    }
    return client;
  }

  /** Remembers who signed in (after `signIn`/`setup`: pass `cloud.me()` or the setup's user). */
  rememberUser(user: { id: string; email: string; displayName?: string }): void {
    this.settings.update({ userId: user.id, userEmail: user.email, userDisplayName: user.displayName });
  }

  /** Signs out here (and on the server when reachable). Machine registration is kept. */
  async signOut(serverOverride?: string): Promise<{ revokedOnServer: boolean }> {
    const known = serverOverride ?? this.settings.get('serverUrl');
    const result = known ? await (await this.cloud(known)).signOut() : { revokedOnServer: false };
    await this.secrets.delete('refresh-token');
    this.settings.update({ userId: undefined, userEmail: undefined, userDisplayName: undefined });
    return result;
  }

  // ── machine identity ──

  /** This host's fingerprint (protocol/machine-assertion.ts), from its OS machine id. */
  fingerprint(): Promise<string> {
    this.fingerprintCache ??= machineFingerprint(this.env);
    return this.fingerprintCache;
  }

  isRegistered(): boolean {
    return Boolean(this.settings.get('machineId'));
  }

  machineKeys(): Promise<MachineKeyPairs | null> {
    return loadMachineKeys(this.secrets);
  }

  /** A fresh sign-in assertion for this machine; `CloudError('NotRegistered')` when there is none. */
  async machineAssertion(): Promise<string> {
    const machineId = this.settings.get('machineId');
    const keys = machineId ? await this.machineKeys() : null;
    if (!machineId || !keys) {
      throw new CloudError({
        status: 0,
        code: 'NotRegistered',
        detail: machineId ? 'This machine\'s keys are missing from the secret store; register it again with --force.' : 'This machine is not registered.',
      });
    }
    return signMachineAssertion({ machineId, fingerprint: await this.fingerprint(), privateKey: keys.signingPrivateKey });
  }

  /**
   * Registers this machine with fresh key pairs. The new keys are kept only once the cloud has
   * accepted them, so a failed re-registration leaves the old one working. Keys of groups the
   * old registration belonged to are forgotten: the new machine is in no group.
   */
  async registerMachine(cloud: CloudClient, input: RegisterMachineInput): Promise<Machine> {
    const keys = createMachineKeyPairs();
    const fingerprint = await this.fingerprint();
    const machine = await cloud.registerMachine(
      {
        name: input.name,
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.environmentId !== undefined ? { environmentId: input.environmentId } : {}),
        signingPublicKey: keys.signingPublicKey,
        encryptionPublicKey: keys.encryptionPublicKey,
        fingerprint,
        os: input.os ?? `${os.platform()} ${os.release()}`.slice(0, 200),
        ...(input.runtimeVersion !== undefined ? { runtimeVersion: input.runtimeVersion } : {}),
      },
      input.registrationToken !== undefined ? { registrationToken: input.registrationToken } : {},
    );
    await this.forgetGroupKeys();
    await saveMachineKeys(this.secrets, keys);
    this.settings.update({
      machineId: machine.id,
      machineName: machine.name,
      machineDescription: machine.description || undefined,
      environmentId: machine.environmentId,
      machineFingerprint: fingerprint,
      registeredAt: new Date().toISOString(),
      groupId: machine.groupId ?? undefined,
      groupName: undefined,
    });
    cloud.forgetMachineToken();
    return machine;
  }

  /** Forgets this machine here: its keys, its group keys and its settings (not the user). */
  async forgetMachine(): Promise<void> {
    await deleteMachineKeys(this.secrets);
    await this.forgetGroupKeys();
    this.settings.update({
      machineId: undefined,
      machineName: undefined,
      machineDescription: undefined,
      machineFingerprint: undefined,
      registeredAt: undefined,
      groupId: undefined,
      groupName: undefined,
    });
    for (const client of this.clients.values()) client.forgetMachineToken();
  }

  /** Records the group this machine is in now (or none). Keys of other groups are forgotten. */
  async setGroup(group: { id: string; name?: string } | null): Promise<void> {
    await this.forgetGroupKeys(group?.id);
    this.settings.update({ groupId: group?.id, groupName: group?.name });
  }

  private async forgetGroupKeys(keep?: string): Promise<void> {
    for (const name of await this.secrets.list()) {
      if (name.startsWith('group-key:') && name !== `group-key:${keep}`) await this.secrets.delete(name);
    }
  }

  // ── status ──

  /** What this profile knows without asking the server. */
  async localStatus(): Promise<ProfileStatus> {
    const s: RuntimeSettings = this.settings.all();
    const names = await this.secrets.list();
    let fingerprintMatches: boolean | null = null;
    if (s.machineId && s.machineFingerprint) {
      try {
        fingerprintMatches = (await this.fingerprint()) === s.machineFingerprint;
      } catch {
        fingerprintMatches = null;
      }
    }
    return {
      profileDir: this.dir,
      serverUrl: s.serverUrl ?? null,
      secretStore: { kind: this.secrets.kind, location: this.secrets.location },
      signedIn: names.includes('refresh-token'),
      user: s.userEmail ? { id: s.userId ?? null, email: s.userEmail, displayName: s.userDisplayName ?? null } : null,
      machine: s.machineId
        ? {
            id: s.machineId,
            name: s.machineName ?? null,
            environmentId: s.environmentId ?? null,
            fingerprintMatches,
            hasKeys: names.includes('machine-signing-key') && names.includes('machine-encryption-key'),
          }
        : null,
      group: s.groupId ? { id: s.groupId, name: s.groupName ?? null, hasKey: names.includes(`group-key:${s.groupId}`) } : null,
    };
  }
}
