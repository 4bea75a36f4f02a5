/**
 * The group password, on the machine (ARCHITECTURE.md, "Group password"; zero-knowledge as
 * Power Automate's group certificate). Plain Node crypto, well-known constructions only:
 *
 *   group keys   Ed25519 (proves membership: signs the server's challenges) and X25519
 *                (connection credentials are sealed to it), made by the first machine that joins.
 *   wrapping     key = scrypt(password, salt, N=2^17, r=8, p=1) → AES-256-GCM over the private
 *                keys, with the group id as additional data. A wrong password fails the GCM tag
 *                check (`IncorrectGroupPassword`) here, on the machine; the cloud only ever holds
 *                the wrapped bundle and the public keys, and cannot open or test it.
 *
 * Bundle format (what the cloud stores, opaque to it): standard base64 of the UTF-8 JSON
 *   { "v": 1, "kdf": "scrypt", "N": 131072, "r": 8, "p": 1,
 *     "salt": b64(16 bytes), "iv": b64(12 bytes), "ct": b64(ciphertext ‖ 16-byte GCM tag) }
 * The plaintext is the JSON { "v": 1, "signing": { publicKey, privateKey },
 * "encryption": { publicKey, privateKey } } with raw 32-byte keys in base64 (private keys are
 * the 32-byte seed / scalar). AAD: `machine-runtime/group-keys/v1:<group id, lowercase>`.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  scrypt,
  sign,
  verify,
  type KeyObject,
  type ScryptOptions,
} from 'node:crypto';

export const GROUP_KDF = { N: 2 ** 17, r: 8, p: 1 } as const;
/** Bounds accepted when unwrapping a bundle that came over the wire (a hostile one must not exhaust memory). */
const KDF_LIMITS = { maxN: 2 ** 20, maxR: 32, maxP: 16 } as const;
export const MIN_GROUP_PASSWORD_LENGTH = 8;
export const MAX_GROUP_PASSWORD_LENGTH = 1024;

export type GroupCryptoErrorCode = 'IncorrectGroupPassword' | 'InvalidKeyBundle' | 'ValidationFailed';

export class GroupCryptoError extends Error {
  readonly code: GroupCryptoErrorCode;
  constructor(code: GroupCryptoErrorCode, message: string) {
    super(message);
    this.name = 'GroupCryptoError';
    this.code = code;
  }
}

export interface KeyPairB64 {
  /** Raw 32-byte public key, standard base64 (as on the wire). */
  publicKey: string;
  /** Raw 32-byte private key (Ed25519 seed / X25519 scalar), standard base64. Never leaves the machine. */
  privateKey: string;
}

/** The group's key pairs, as the machine keeps them in its secret store (`serializeGroupKeys`). */
export interface GroupKeys {
  signing: KeyPairB64;
  encryption: KeyPairB64;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const fromB64url = (value: string) => Buffer.from(value, 'base64url');

function rawPair(type: 'ed25519' | 'x25519'): KeyPairB64 {
  const { privateKey } = generateKeyPairSync(type as 'ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  if (!jwk.x || !jwk.d) throw new Error(`${type} key export failed`);
  return { publicKey: b64(fromB64url(jwk.x)), privateKey: b64(fromB64url(jwk.d)) };
}

function okpPrivateKey(crv: 'Ed25519' | 'X25519', pair: KeyPairB64): KeyObject {
  return createPrivateKey({
    key: {
      kty: 'OKP',
      crv,
      x: Buffer.from(pair.publicKey, 'base64').toString('base64url'),
      d: Buffer.from(pair.privateKey, 'base64').toString('base64url'),
    },
    format: 'jwk',
  });
}

function okpPublicKey(crv: 'Ed25519' | 'X25519', publicKey: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv, x: Buffer.from(publicKey, 'base64').toString('base64url') }, format: 'jwk' });
}

/** The public half that belongs to a private key (to check a pair is whole). */
function publicOf(crv: 'Ed25519' | 'X25519', privateKey: string): string {
  const seed = Buffer.from(privateKey, 'base64');
  // PKCS#8 wrapping of a raw OKP private key: fixed 16-byte prefix + 32 bytes.
  const prefix = Buffer.from(crv === 'Ed25519' ? '302e020100300506032b657004220420' : '302e020100300506032b656e04220420', 'hex');
  const key = createPrivateKey({ key: Buffer.concat([prefix, seed]), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return b64(fromB64url(jwk.x!));
}

/** New group key pairs (the first machine to join a group makes them). */
export function createGroupKeys(): GroupKeys {
  return { signing: rawPair('ed25519'), encryption: rawPair('x25519') };
}

/** The public keys as the cloud stores them and `POST …/members` (`firstJoin`) uploads them. */
export function groupPublicKeys(keys: GroupKeys): { signingPublicKey: string; encryptionPublicKey: string } {
  return { signingPublicKey: keys.signing.publicKey, encryptionPublicKey: keys.encryption.publicKey };
}

function additionalData(groupId: string): Buffer {
  return Buffer.from(`machine-runtime/group-keys/v1:${groupId.toLowerCase()}`, 'utf8');
}

function passwordBytes(password: string): Buffer {
  return Buffer.from(password.normalize('NFC'), 'utf8');
}

/** scrypt through the callback API, so a caller can show progress while it runs (~0.3 s). */
function deriveKey(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(passwordBytes(password), salt, 32, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export function checkGroupPassword(password: string): void {
  if (typeof password !== 'string' || password.length < MIN_GROUP_PASSWORD_LENGTH) {
    throw new GroupCryptoError('ValidationFailed', `The group password must have at least ${MIN_GROUP_PASSWORD_LENGTH} characters.`);
  }
  if (password.length > MAX_GROUP_PASSWORD_LENGTH) {
    throw new GroupCryptoError('ValidationFailed', `The group password must have at most ${MAX_GROUP_PASSWORD_LENGTH} characters.`);
  }
}

/** Wraps the group's private keys with the password; the result is what the cloud stores. */
export async function wrapGroupKeys(keys: GroupKeys, password: string, groupId: string): Promise<string> {
  checkGroupPassword(password);
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = await deriveKey(password, salt, GROUP_KDF);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(additionalData(groupId));
  const plaintext = Buffer.from(JSON.stringify({ v: 1, signing: keys.signing, encryption: keys.encryption }), 'utf8');
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  plaintext.fill(0);
  key.fill(0);
  const bundle = { v: 1, kdf: 'scrypt', ...GROUP_KDF, salt: b64(salt), iv: b64(iv), ct: b64(ciphertext) };
  return Buffer.from(JSON.stringify(bundle), 'utf8').toString('base64');
}

interface ParsedBundle {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  iv: Buffer;
  ct: Buffer;
}

function invalidBundle(why: string): GroupCryptoError {
  return new GroupCryptoError('InvalidKeyBundle', `The group key bundle is not valid (${why}).`);
}

function parseBundle(bundle: string): ParsedBundle {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bundle, 'base64').toString('utf8'));
  } catch {
    throw invalidBundle('not base64 JSON');
  }
  if (typeof doc !== 'object' || doc === null) throw invalidBundle('not an object');
  const d = doc as Record<string, unknown>;
  if (d.v !== 1 || d.kdf !== 'scrypt') throw invalidBundle('unknown version or key derivation');
  const { N, r, p } = d;
  if (typeof N !== 'number' || !Number.isInteger(N) || N < 2 || N > KDF_LIMITS.maxN || (N & (N - 1)) !== 0) throw invalidBundle('N');
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || r > KDF_LIMITS.maxR) throw invalidBundle('r');
  if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > KDF_LIMITS.maxP) throw invalidBundle('p');
  const bytes = (name: string) => {
    const value = d[name];
    if (typeof value !== 'string') throw invalidBundle(name);
    return Buffer.from(value, 'base64');
  };
  const salt = bytes('salt');
  const iv = bytes('iv');
  const ct = bytes('ct');
  if (salt.length < 16 || iv.length !== 12 || ct.length <= 16) throw invalidBundle('lengths');
  return { N, r, p, salt, iv, ct };
}

/**
 * Opens a bundle with the password. A wrong password (or a bundle made for another group)
 * throws `GroupCryptoError` with code `IncorrectGroupPassword`. When `expected` public keys are
 * given (those the cloud announces), the unwrapped keys must be exactly those.
 */
export async function unwrapGroupKeys(
  bundle: string,
  password: string,
  groupId: string,
  expected?: { signingPublicKey?: string; encryptionPublicKey?: string },
): Promise<GroupKeys> {
  const parsed = parseBundle(bundle);
  const key = await deriveKey(password, parsed.salt, parsed);
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, parsed.iv);
    decipher.setAAD(additionalData(groupId));
    decipher.setAuthTag(parsed.ct.subarray(parsed.ct.length - 16));
    plaintext = Buffer.concat([decipher.update(parsed.ct.subarray(0, parsed.ct.length - 16)), decipher.final()]);
  } catch {
    throw new GroupCryptoError('IncorrectGroupPassword', 'The group password is incorrect.');
  } finally {
    key.fill(0);
  }
  let keys: GroupKeys;
  try {
    const doc = JSON.parse(plaintext.toString('utf8')) as { v: number; signing: KeyPairB64; encryption: KeyPairB64 };
    keys = parseGroupKeys(JSON.stringify({ signing: doc.signing, encryption: doc.encryption }));
  } catch {
    throw invalidBundle('contents');
  } finally {
    plaintext.fill(0);
  }
  if (expected?.signingPublicKey !== undefined && expected.signingPublicKey !== keys.signing.publicKey) {
    throw invalidBundle('its signing key is not the group’s');
  }
  if (expected?.encryptionPublicKey !== undefined && expected.encryptionPublicKey !== keys.encryption.publicKey) {
    throw invalidBundle('its encryption key is not the group’s');
  }
  return keys;
}

/** Signs a challenge message (protocol/api/groups.ts `groupChallengeMessage`) with the group key. */
export function signChallenge(keys: GroupKeys, message: Uint8Array): string {
  return b64(sign(null, message, okpPrivateKey('Ed25519', keys.signing)));
}

/** Checks a signature against a group signing public key (what the cloud does, for tests and self-checks). */
export function verifyChallengeSignature(signingPublicKey: string, message: Uint8Array, signature: string): boolean {
  try {
    return verify(null, message, okpPublicKey('Ed25519', signingPublicKey), Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** For the secret store: the keys as one JSON string (keep it in the keychain, never in settings). */
export function serializeGroupKeys(keys: GroupKeys): string {
  return JSON.stringify({ v: 1, signing: keys.signing, encryption: keys.encryption });
}

const RAW_KEY = /^[A-Za-z0-9+/]{43}=$/;

/** Reads keys back from `serializeGroupKeys`, checking each private key matches its public key. */
export function parseGroupKeys(json: string): GroupKeys {
  const doc = JSON.parse(json) as Partial<GroupKeys>;
  const pair = (value: unknown, crv: 'Ed25519' | 'X25519'): KeyPairB64 => {
    const p = value as Partial<KeyPairB64> | undefined;
    if (!p || typeof p.publicKey !== 'string' || typeof p.privateKey !== 'string' || !RAW_KEY.test(p.publicKey) || !RAW_KEY.test(p.privateKey)) {
      throw invalidBundle(`${crv} key pair`);
    }
    if (publicOf(crv, p.privateKey) !== p.publicKey) throw invalidBundle(`${crv} key pair does not match`);
    return { publicKey: p.publicKey, privateKey: p.privateKey };
  };
  return { signing: pair(doc.signing, 'Ed25519'), encryption: pair(doc.encryption, 'X25519') };
}
