/**
 * Checking a machine's proof that it holds a group key: an Ed25519 signature over
 * `groupChallengeMessage(...)` (protocol/api/groups.ts), verified against the group's raw
 * 32-byte public key as stored (base64). Node crypto only.
 */
import { createPublicKey, verify } from 'node:crypto';

export function verifyGroupSignature(signingPublicKey: string, message: Uint8Array, signature: string): boolean {
  try {
    const raw = Buffer.from(signingPublicKey, 'base64');
    const sig = Buffer.from(signature, 'base64');
    if (raw.length !== 32 || sig.length !== 64) return false;
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    return verify(null, message, key, sig);
  } catch {
    return false;
  }
}
