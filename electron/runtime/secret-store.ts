/**
 * Where a machine keeps its secrets: the user's refresh token, the machine's private keys and the
 * group keys. One interface, three homes:
 *   - `keychain`: the OS keychain through keytar (Secret Service on Linux, Keychain on macOS,
 *     Credential Manager on Windows), one keychain service per profile folder;
 *   - `file`: `secrets.json` in the profile folder, readable by its owner only (0600), for
 *     headless VMs with no keychain; chosen with a one-line warning;
 *   - `memory`: for unit tests.
 * Settings (conf) never hold a secret.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, constants as fsConstants } from 'node:fs';
import path from 'node:path';

export type SecretStoreKind = 'keychain' | 'file' | 'memory';

/** The secrets a profile holds. Group keys are stored per group, in group-crypto's format. */
export type SecretName =
  | 'refresh-token'
  | 'machine-signing-key'
  | 'machine-encryption-key'
  | `group-key:${string}`;

export const groupKeySecret = (groupId: string): SecretName => `group-key:${groupId}`;

export interface SecretStore {
  readonly kind: SecretStoreKind;
  /** Where the secrets are, for `status`: the keychain service name, the file path, or `memory`. */
  readonly location: string;
  /** The secret, or null when there is none. */
  get(name: SecretName): Promise<string | null>;
  set(name: SecretName, value: string): Promise<void>;
  /** True when a secret was deleted, false when there was none. */
  delete(name: SecretName): Promise<boolean>;
  /** The names of the secrets held (never their values). */
  list(): Promise<SecretName[]>;
}

export type SecretStoreErrorCode =
  | 'KeychainUnavailable'
  | 'KeychainFailed'
  | 'SecretFileCorrupt'
  | 'SecretFileUnusable'
  | 'InvalidPreference';

/** A secret store that cannot be used; `message` is one sentence a person can act on. */
export class SecretStoreError extends Error {
  readonly code: SecretStoreErrorCode;
  constructor(code: SecretStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretStoreError';
    this.code = code;
  }
}

const SECRET_NAME = /^(refresh-token|machine-signing-key|machine-encryption-key|group-key:[A-Za-z0-9._-]{1,100})$/;

function checkName(name: string): asserts name is SecretName {
  if (!SECRET_NAME.test(name)) throw new TypeError(`not a secret name: ${JSON.stringify(name)}`);
}

// ───────────────────────────── memory ─────────────────────────────

export class MemorySecretStore implements SecretStore {
  readonly kind = 'memory' as const;
  readonly location = 'memory';
  private readonly secrets = new Map<SecretName, string>();

  async get(name: SecretName): Promise<string | null> {
    checkName(name);
    return this.secrets.get(name) ?? null;
  }
  async set(name: SecretName, value: string): Promise<void> {
    checkName(name);
    this.secrets.set(name, value);
  }
  async delete(name: SecretName): Promise<boolean> {
    checkName(name);
    return this.secrets.delete(name);
  }
  async list(): Promise<SecretName[]> {
    return [...this.secrets.keys()].sort();
  }
}

// ───────────────────────────── file ─────────────────────────────

export const SECRET_FILE_NAME = 'secrets.json';
const FILE_MODE = 0o600;
const checksModes = process.platform !== 'win32';

interface SecretFile {
  version: 1;
  secrets: Record<string, string>;
}

/**
 * Secrets in a JSON file readable by its owner only. Every call reads the file afresh (the CLI,
 * the agent and the desktop app may share one profile) and every change is written to a
 * temporary file and renamed over the old one, so a crash never leaves half a file.
 */
export class FileSecretStore implements SecretStore {
  readonly kind = 'file' as const;
  readonly location: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly file: string) {
    this.location = file;
  }

  /** Opens (and checks) the file in `profileDir`, creating the folder owner-only if needed. */
  static async open(profileDir: string): Promise<FileSecretStore> {
    await fs.mkdir(profileDir, { recursive: true, mode: 0o700 });
    const store = new FileSecretStore(path.join(profileDir, SECRET_FILE_NAME));
    await store.read();
    return store;
  }

  async get(name: SecretName): Promise<string | null> {
    checkName(name);
    const file = await this.read();
    return Object.hasOwn(file.secrets, name) ? (file.secrets[name] ?? null) : null;
  }

  async set(name: SecretName, value: string): Promise<void> {
    checkName(name);
    if (typeof value !== 'string') throw new TypeError('a secret is a string');
    await this.change((secrets) => {
      secrets[name] = value;
      return true;
    });
  }

  async delete(name: SecretName): Promise<boolean> {
    checkName(name);
    return this.change((secrets) => {
      if (!Object.hasOwn(secrets, name)) return false;
      delete secrets[name];
      return true;
    });
  }

  async list(): Promise<SecretName[]> {
    const file = await this.read();
    return Object.keys(file.secrets).filter((name): name is SecretName => SECRET_NAME.test(name)).sort();
  }

  /** Changes are serialised within this process; the rename keeps other readers consistent. */
  private change(edit: (secrets: Record<string, string>) => boolean): Promise<boolean> {
    const next = this.queue.then(async () => {
      const file = await this.read();
      const changed = edit(file.secrets);
      if (changed) await this.write(file);
      return changed;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async read(): Promise<SecretFile> {
    let text: string;
    try {
      if (checksModes) await this.fixMode();
      text = await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, secrets: Object.create(null) };
      throw new SecretStoreError('SecretFileUnusable', `The secret file ${this.file} cannot be read: ${(error as Error).message}.`, {
        cause: error,
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw corrupt(this.file, (error as Error).message, error);
    }
    if (!isSecretFile(parsed)) throw corrupt(this.file, 'it does not hold a { version: 1, secrets } object');
    return { version: 1, secrets: Object.assign(Object.create(null), parsed.secrets) };
  }

  /** Someone (a copy, an unzip, a chmod) may have widened the mode: put it back to 0600. */
  private async fixMode(): Promise<void> {
    let mode: number;
    try {
      mode = (await fs.stat(this.file)).mode & 0o777;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    if (mode !== FILE_MODE) await fs.chmod(this.file, FILE_MODE);
  }

  private async write(file: SecretFile): Promise<void> {
    const temp = `${this.file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const handle = await fs.open(temp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, FILE_MODE);
      try {
        await handle.writeFile(`${JSON.stringify(file, null, 2)}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      if (checksModes) await fs.chmod(temp, FILE_MODE); // the open mode is filtered by the umask; be exact
      await fs.rename(temp, this.file);
    } catch (error) {
      await fs.rm(temp, { force: true }).catch(() => undefined);
      if (error instanceof SecretStoreError) throw error;
      throw new SecretStoreError('SecretFileUnusable', `The secret file ${this.file} cannot be written: ${(error as Error).message}.`, {
        cause: error,
      });
    }
  }
}

function isSecretFile(value: unknown): value is SecretFile {
  if (typeof value !== 'object' || value === null) return false;
  const { version, secrets } = value as Partial<SecretFile>;
  if (version !== 1 || typeof secrets !== 'object' || secrets === null || Array.isArray(secrets)) return false;
  return Object.values(secrets).every((v) => typeof v === 'string');
}

function corrupt(file: string, why: string, cause?: unknown): SecretStoreError {
  return new SecretStoreError(
    'SecretFileCorrupt',
    `The secret file ${file} is damaged (${why}); move it away, then sign in and register this machine again.`,
    { cause },
  );
}

// ───────────────────────────── keychain ─────────────────────────────

/** The part of keytar we use (its module shape), so tests can hand in another implementation. */
export interface KeytarModule {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
  findCredentials(service: string): Promise<Array<{ account: string; password: string }>>;
}

/** Loads keytar, or explains why it cannot be used. */
export async function loadKeytar(): Promise<KeytarModule> {
  let loaded: { default?: KeytarModule } & Partial<KeytarModule>;
  try {
    loaded = (await import('keytar')) as typeof loaded;
  } catch (error) {
    throw new SecretStoreError('KeychainUnavailable', `keytar is not installed or did not build: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const keytar = loaded.default ?? (loaded as KeytarModule);
  if (typeof keytar.getPassword !== 'function') throw new SecretStoreError('KeychainUnavailable', 'keytar did not load.');
  return keytar;
}

/** The keychain service of a profile: one per profile folder, so simulated machines don't collide. */
export function keychainServiceFor(profileDir: string): string {
  const digest = createHash('sha256').update(path.resolve(profileDir)).digest('hex').slice(0, 16);
  return `machine-runtime:${digest}`;
}

export class KeytarSecretStore implements SecretStore {
  readonly kind = 'keychain' as const;
  readonly location: string;

  constructor(
    private readonly keytar: KeytarModule,
    readonly service: string,
  ) {
    this.location = `OS keychain (service "${service}")`;
  }

  /** Fails with `KeychainUnavailable` when the keychain cannot be used (no D-Bus, no Secret Service, locked…). */
  async probe(timeoutMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      // Write, read back, delete: a keychain that can be read but not written (a locked
      // collection with no one to unlock it, as over SSH) is no use to us.
      const roundTrip = async () => {
        const value = `probe-${randomBytes(6).toString('hex')}`;
        await this.keytar.setPassword(this.service, 'probe', value);
        const read = await this.keytar.getPassword(this.service, 'probe');
        await this.keytar.deletePassword(this.service, 'probe');
        if (read !== value) throw new Error('a secret written could not be read back');
      };
      await Promise.race([
        roundTrip(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (error) {
      throw new SecretStoreError('KeychainUnavailable', `the OS keychain is not reachable: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  async get(name: SecretName): Promise<string | null> {
    checkName(name);
    return this.call('read', () => this.keytar.getPassword(this.service, name));
  }
  async set(name: SecretName, value: string): Promise<void> {
    checkName(name);
    await this.call('write', () => this.keytar.setPassword(this.service, name, value));
  }
  async delete(name: SecretName): Promise<boolean> {
    checkName(name);
    return this.call('delete', () => this.keytar.deletePassword(this.service, name));
  }
  async list(): Promise<SecretName[]> {
    const found = await this.call('list', () => this.keytar.findCredentials(this.service));
    return found
      .map((c) => c.account)
      .filter((name): name is SecretName => SECRET_NAME.test(name))
      .sort();
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw new SecretStoreError('KeychainFailed', `The OS keychain refused to ${what} a secret: ${(error as Error).message}.`, {
        cause: error,
      });
    }
  }
}

// ───────────────────────────── choosing ─────────────────────────────

export type SecretStorePreference = 'auto' | SecretStoreKind;

export interface OpenSecretStoreOptions {
  /** `auto` (default): the keychain when reachable, else the file. Env MACHINE_RUNTIME_SECRET_STORE overrides `auto`. */
  prefer?: SecretStorePreference;
  /** Where warnings go (default: one line on stderr). */
  warn?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** For tests: another keytar. */
  loadKeytar?: () => Promise<KeytarModule>;
}

/** Remembers, per profile, that its secrets are in the keychain (and under which service). */
const KEYCHAIN_MARKER = 'secret-store.json';

interface KeychainMarker {
  kind: 'keychain';
  service: string;
}

export function fileFallbackWarning(file: string): string {
  return `warning: no OS keychain reachable; secrets are kept in ${file} (readable by you only)`;
}

/**
 * Opens the secret store of a profile folder.
 *  - `memory`: an empty in-memory store.
 *  - `file`: the 0600 file (no warning: it was asked for).
 *  - `keychain`: the OS keychain, or `SecretStoreError('KeychainUnavailable')`.
 *  - `auto`: a profile stays where its secrets already are: a file holding secrets keeps being
 *    used (with the warning); a profile whose secrets went to the keychain needs the keychain
 *    (or fails with `KeychainUnavailable`, rather than appearing signed out). A new profile uses
 *    the keychain when reachable, else the file, with a one-line warning.
 */
export async function openSecretStore(profileDir: string, options: OpenSecretStoreOptions = {}): Promise<SecretStore> {
  const env = options.env ?? process.env;
  const warn = options.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  const load = options.loadKeytar ?? loadKeytar;
  let prefer = options.prefer ?? 'auto';
  if (prefer === 'auto') {
    const fromEnv = env.MACHINE_RUNTIME_SECRET_STORE?.trim();
    if (fromEnv) {
      if (fromEnv !== 'file' && fromEnv !== 'keychain' && fromEnv !== 'memory' && fromEnv !== 'auto') {
        throw new SecretStoreError(
          'InvalidPreference',
          `MACHINE_RUNTIME_SECRET_STORE must be "keychain", "file", "memory" or "auto", not "${fromEnv}".`,
        );
      }
      prefer = fromEnv;
    }
  }
  const dir = path.resolve(profileDir);

  if (prefer === 'memory') return new MemorySecretStore();
  if (prefer === 'file') return FileSecretStore.open(dir);

  const marker = await readMarker(dir);
  const openKeychain = async (): Promise<KeytarSecretStore> => {
    const store = new KeytarSecretStore(await load(), marker?.service ?? keychainServiceFor(dir));
    await store.probe();
    if (!marker) await writeMarker(dir, { kind: 'keychain', service: store.service });
    return store;
  };

  if (prefer === 'keychain') return openKeychain();

  // auto
  const file = await FileSecretStore.open(dir);
  if ((await file.list()).length > 0) {
    warn(fileFallbackWarning(file.file));
    return file;
  }
  try {
    return await openKeychain();
  } catch (error) {
    if (marker) {
      throw new SecretStoreError(
        'KeychainUnavailable',
        `The secrets of the profile ${dir} are in the OS keychain, which is not reachable (${(error as Error).message}); ` +
          'run where the keychain is unlocked, or set MACHINE_RUNTIME_SECRET_STORE=file to start over with a file.',
        { cause: error },
      );
    }
    warn(fileFallbackWarning(file.file));
    return file;
  }
}

async function readMarker(dir: string): Promise<KeychainMarker | null> {
  try {
    const parsed = JSON.parse(await fs.readFile(path.join(dir, KEYCHAIN_MARKER), 'utf8')) as Partial<KeychainMarker>;
    return parsed.kind === 'keychain' && typeof parsed.service === 'string' && parsed.service.length > 0
      ? { kind: 'keychain', service: parsed.service }
      : null;
  } catch {
    return null;
  }
}

async function writeMarker(dir: string, marker: KeychainMarker): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.writeFile(path.join(dir, KEYCHAIN_MARKER), `${JSON.stringify(marker, null, 2)}\n`);
}
