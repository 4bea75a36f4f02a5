/**
 * Sealing connection passwords (ARCHITECTURE.md, "Connection credentials"): libsodium's sealed
 * box (X25519 + XSalsa20-Poly1305 with an ephemeral sender key) to the target's raw 32-byte
 * X25519 public key. The cloud can seal but never open: only a machine holding the private key
 * (the group's, or the machine's own) can. The machine side opens with crypto_box_seal_open
 * (electron/runtime/sealed-box.ts).
 */
import sodium from 'libsodium-wrappers';

/** Seals `plaintext` (UTF-8) to `publicKeyBase64`; returns the sealed box, base64. */
export async function sealToPublicKey(plaintext: string, publicKeyBase64: string): Promise<string> {
  await sodium.ready;
  const publicKey = Buffer.from(publicKeyBase64, 'base64');
  if (publicKey.length !== sodium.crypto_box_PUBLICKEYBYTES) throw new Error('not a raw X25519 public key');
  const sealed = sodium.crypto_box_seal(new TextEncoder().encode(plaintext), new Uint8Array(publicKey));
  return Buffer.from(sealed).toString('base64');
}
