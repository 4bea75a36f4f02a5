/**
 * Opening connection credentials on the machine: the cloud sealed the password to the group's
 * (or this machine's) X25519 public key with libsodium's sealed box
 * (cloud/src/connections/sealed-box.ts); only the holder of the private key can open it.
 */
import sodium from 'libsodium-wrappers';

export interface X25519KeyPair {
  /** Raw 32 bytes. */
  publicKey: Uint8Array;
  /** Raw 32 bytes. */
  privateKey: Uint8Array;
}

export class SealedBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealedBoxError';
  }
}

/** Opens a base64 sealed box with `keys`; throws SealedBoxError when these keys cannot open it. */
export async function openSealed(sealedBase64: string, keys: X25519KeyPair): Promise<string> {
  await sodium.ready;
  let opened: Uint8Array;
  try {
    opened = sodium.crypto_box_seal_open(new Uint8Array(Buffer.from(sealedBase64, 'base64')), keys.publicKey, keys.privateKey);
  } catch {
    throw new SealedBoxError('These keys cannot open the credentials (not sealed to this group or machine).');
  }
  return new TextDecoder().decode(opened);
}

/** A raw key pair from base64 strings (the group key format of group-crypto.ts). */
export function keyPairFromBase64(publicKey: string, privateKey: string): X25519KeyPair {
  return { publicKey: new Uint8Array(Buffer.from(publicKey, 'base64')), privateKey: new Uint8Array(Buffer.from(privateKey, 'base64')) };
}
