/**
 * Who this machine is, as protocol/machine-assertion.ts defines it:
 *  - a fingerprint of the OS machine id (hashed; the id itself never leaves the machine);
 *  - an Ed25519 key pair to sign in (the assertion JWT) and an X25519 key pair that connection
 *    credentials are sealed to. Public keys go to the cloud as raw 32-byte base64; private keys
 *    stay in the SecretStore as PKCS8 DER base64.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import { MACHINE_ASSERTION_AUDIENCE, MACHINE_ASSERTION_MAX_SECONDS } from '../../protocol/machine-assertion.ts';
import type { SecretStore } from './secret-store.ts';

const run = promisify(execFile);

export class IdentityError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IdentityError';
  }
}

// ───────────────────────────── OS machine id and fingerprint ─────────────────────────────

/**
 * The OS's machine id. MACHINE_RUNTIME_MACHINE_ID_FILE names a file whose content is used
 * instead (tests simulate another host with it). Surrounding whitespace is ignored.
 */
export async function readOsMachineId(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): Promise<string> {
  const override = env.MACHINE_RUNTIME_MACHINE_ID_FILE;
  if (override) return nonEmpty(await readText(override), override);
  switch (platform) {
    case 'darwin': {
      const out = await command('ioreg', ['-rd1', '-c', 'IOPlatformExpertDevice']);
      const match = /"IOPlatformUUID"\s*=\s*"([^"]+)"/.exec(out);
      if (!match?.[1]) throw new IdentityError('ioreg did not report an IOPlatformUUID.');
      return match[1];
    }
    case 'win32': {
      const out = await command('reg', ['query', 'HKLM\\SOFTWARE\\Microsoft\\Cryptography', '/v', 'MachineGuid']);
      const match = /MachineGuid\s+REG_SZ\s+(\S+)/i.exec(out);
      if (!match?.[1]) throw new IdentityError('The registry has no MachineGuid.');
      return match[1];
    }
    default: {
      const candidates = ['/etc/machine-id', '/var/lib/dbus/machine-id', '/etc/hostid'];
      for (const file of candidates) {
        try {
          const text = (await fs.readFile(file, 'utf8')).trim();
          if (text) return text;
        } catch {
          /* try the next one */
        }
      }
      throw new IdentityError(
        `No machine id found (${candidates.join(', ')}); create one with systemd-machine-id-setup or dbus-uuidgen --ensure.`,
      );
    }
  }
}

async function readText(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new IdentityError(`The machine id file ${file} cannot be read: ${(error as Error).message}.`, { cause: error });
  }
}

function nonEmpty(text: string, source: string): string {
  const id = text.trim();
  if (!id) throw new IdentityError(`The machine id file ${source} is empty.`);
  return id;
}

async function command(file: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(file, args, { timeout: 10_000, windowsHide: true });
    return stdout;
  } catch (error) {
    throw new IdentityError(`Reading the machine id with ${file} failed: ${(error as Error).message}.`, { cause: error });
  }
}

/** Lowercase hex SHA-256 of `machine-runtime-fingerprint:v1:<OS machine id>`. */
export function fingerprintOf(osMachineId: string): string {
  return createHash('sha256').update(`machine-runtime-fingerprint:v1:${osMachineId}`, 'utf8').digest('hex');
}

export async function machineFingerprint(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return fingerprintOf(await readOsMachineId(env));
}

// ───────────────────────────── key pairs ─────────────────────────────

export interface MachinePublicKeys {
  /** Raw 32-byte Ed25519 public key, base64. */
  signingPublicKey: string;
  /** Raw 32-byte X25519 public key, base64. */
  encryptionPublicKey: string;
}

export interface MachineKeyPairs extends MachinePublicKeys {
  signingPrivateKey: KeyObject;
  encryptionPrivateKey: KeyObject;
}

/** New key pairs, in memory only: save them with `saveMachineKeys` once the cloud accepted them. */
export function createMachineKeyPairs(): MachineKeyPairs {
  const signing = generateKeyPairSync('ed25519');
  const encryption = generateKeyPairSync('x25519');
  return {
    signingPublicKey: rawPublicKey(signing.publicKey),
    encryptionPublicKey: rawPublicKey(encryption.publicKey),
    signingPrivateKey: signing.privateKey,
    encryptionPrivateKey: encryption.privateKey,
  };
}

/** A public KeyObject as its raw 32 bytes, base64 (standard, padded). */
export function rawPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (!jwk.x) throw new IdentityError('not an OKP public key');
  return Buffer.from(jwk.x, 'base64url').toString('base64');
}

/** The raw 32-byte private scalar of an X25519/Ed25519 private key (for libsodium's sealed boxes). */
export function rawPrivateKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  if (!jwk.d) throw new IdentityError('not an OKP private key');
  return new Uint8Array(Buffer.from(jwk.d, 'base64url'));
}

const toPkcs8 = (key: KeyObject) => key.export({ format: 'der', type: 'pkcs8' }).toString('base64');

export async function saveMachineKeys(store: SecretStore, keys: MachineKeyPairs): Promise<void> {
  await store.set('machine-signing-key', toPkcs8(keys.signingPrivateKey));
  await store.set('machine-encryption-key', toPkcs8(keys.encryptionPrivateKey));
}

/** The machine's key pairs from the store, or null when this profile has none. */
export async function loadMachineKeys(store: SecretStore): Promise<MachineKeyPairs | null> {
  const [signing, encryption] = await Promise.all([store.get('machine-signing-key'), store.get('machine-encryption-key')]);
  if (!signing || !encryption) return null;
  const signingPrivateKey = parsePkcs8(signing, 'ed25519', 'machine-signing-key');
  const encryptionPrivateKey = parsePkcs8(encryption, 'x25519', 'machine-encryption-key');
  return {
    signingPrivateKey,
    encryptionPrivateKey,
    signingPublicKey: rawPublicKey(createPublicKey(signingPrivateKey)),
    encryptionPublicKey: rawPublicKey(createPublicKey(encryptionPrivateKey)),
  };
}

export async function deleteMachineKeys(store: SecretStore): Promise<void> {
  await store.delete('machine-signing-key');
  await store.delete('machine-encryption-key');
}

function parsePkcs8(base64: string, type: 'ed25519' | 'x25519', name: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.from(base64, 'base64'), format: 'der', type: 'pkcs8' });
  } catch (error) {
    throw new IdentityError(`The secret ${name} is not a private key; register this machine again with --force.`, { cause: error });
  }
  if (key.asymmetricKeyType !== type) {
    throw new IdentityError(`The secret ${name} is a ${key.asymmetricKeyType} key, not ${type}; register again with --force.`);
  }
  return key;
}

// ───────────────────────────── assertion ─────────────────────────────

export const MACHINE_ASSERTION_SECONDS = 60;

export interface MachineAssertionInput {
  machineId: string;
  fingerprint: string;
  privateKey: KeyObject;
  /** Seconds until it expires (default 60, at most MACHINE_ASSERTION_MAX_SECONDS). */
  lifetimeSeconds?: number;
  now?: () => Date;
}

/** The sign-in JWT of protocol/machine-assertion.ts, for `POST /auth/token` (jwt-bearer grant). */
export async function signMachineAssertion(input: MachineAssertionInput): Promise<string> {
  const lifetime = Math.min(input.lifetimeSeconds ?? MACHINE_ASSERTION_SECONDS, MACHINE_ASSERTION_MAX_SECONDS);
  const iat = Math.floor((input.now?.() ?? new Date()).getTime() / 1000);
  return new SignJWT({ fph: input.fingerprint })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setIssuer(input.machineId)
    .setSubject(input.machineId)
    .setAudience(MACHINE_ASSERTION_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + lifetime)
    .setJti(randomUUID())
    .sign(input.privateKey);
}
