/**
 * The machine-side group crypto: key pairs, password wrapping (scrypt + AES-256-GCM), the
 * wrong-password check, binding to the group, challenge signatures in the format the cloud
 * verifies, and the secret-store form of the keys. One scrypt derivation costs ~0.3 s, so the
 * suite wraps once and unwraps only where it proves something.
 */
import { diffieHellman, createPrivateKey, createPublicKey } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  GROUP_KDF,
  createGroupKeys,
  groupPublicKeys,
  parseGroupKeys,
  serializeGroupKeys,
  signChallenge,
  unwrapGroupKeys,
  verifyChallengeSignature,
  wrapGroupKeys,
  type GroupKeys,
} from '../runtime/group-crypto.ts';
import { groupChallengeMessage } from '../../protocol/api/groups.ts';

const GROUP = '6f1c2b7e-3d4a-4e5f-8a9b-0c1d2e3f4a5b';
const PASSWORD = 'group password 1';

describe('group crypto', () => {
  let keys: GroupKeys;
  let bundle: string;

  beforeAll(async () => {
    keys = createGroupKeys();
    bundle = await wrapGroupKeys(keys, PASSWORD, GROUP);
  });

  it('makes raw 32-byte Ed25519 and X25519 keys, base64 as on the wire', () => {
    for (const value of [keys.signing.publicKey, keys.signing.privateKey, keys.encryption.publicKey, keys.encryption.privateKey]) {
      expect(value).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(Buffer.from(value, 'base64')).toHaveLength(32);
    }
    expect(groupPublicKeys(keys)).toEqual({ signingPublicKey: keys.signing.publicKey, encryptionPublicKey: keys.encryption.publicKey });
    expect(createGroupKeys().signing.publicKey).not.toBe(keys.signing.publicKey);
  });

  it('writes the documented bundle: scrypt N=2^17 r=8 p=1, AES-256-GCM, nothing in clear', () => {
    const doc = JSON.parse(Buffer.from(bundle, 'base64').toString('utf8'));
    expect(doc).toMatchObject({ v: 1, kdf: 'scrypt', N: 2 ** 17, r: 8, p: 1 });
    expect(GROUP_KDF).toEqual({ N: 131072, r: 8, p: 1 });
    expect(Buffer.from(doc.salt, 'base64')).toHaveLength(16);
    expect(Buffer.from(doc.iv, 'base64')).toHaveLength(12);
    const decoded = Buffer.from(bundle, 'base64').toString('utf8');
    expect(decoded).not.toContain(keys.signing.privateKey);
    expect(decoded).not.toContain(keys.encryption.privateKey);
    expect(decoded).not.toContain(PASSWORD);
    expect(bundle.length).toBeLessThan(4096);
  });

  it('unwraps with the right password to the same keys, and refuses a wrong one with IncorrectGroupPassword', async () => {
    await expect(unwrapGroupKeys(bundle, PASSWORD, GROUP, groupPublicKeys(keys))).resolves.toEqual(keys);
    await expect(unwrapGroupKeys(bundle, 'group password 2', GROUP)).rejects.toMatchObject({ code: 'IncorrectGroupPassword' });
  });

  it('binds a bundle to its group and detects tampering', async () => {
    await expect(unwrapGroupKeys(bundle, PASSWORD, '00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({
      code: 'IncorrectGroupPassword',
    });
    const doc = JSON.parse(Buffer.from(bundle, 'base64').toString('utf8'));
    const ct = Buffer.from(doc.ct, 'base64');
    ct[0]! ^= 1;
    const tampered = Buffer.from(JSON.stringify({ ...doc, ct: ct.toString('base64') })).toString('base64');
    await expect(unwrapGroupKeys(tampered, PASSWORD, GROUP)).rejects.toMatchObject({ code: 'IncorrectGroupPassword' });
  });

  it('refuses malformed or hostile bundles before deriving anything', async () => {
    const doc = JSON.parse(Buffer.from(bundle, 'base64').toString('utf8'));
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');
    for (const bad of ['', 'not-a-bundle', encode({ ...doc, v: 2 }), encode({ ...doc, N: 2 ** 30 }), encode({ ...doc, N: 1000 }), encode({ ...doc, iv: '' })]) {
      await expect(unwrapGroupKeys(bad, PASSWORD, GROUP)).rejects.toMatchObject({ code: 'InvalidKeyBundle' });
    }
  });

  it('refuses a bundle whose keys are not the ones the group announces', async () => {
    await expect(
      unwrapGroupKeys(bundle, PASSWORD, GROUP, { signingPublicKey: createGroupKeys().signing.publicKey }),
    ).rejects.toMatchObject({ code: 'InvalidKeyBundle' });
  });

  it('refuses too short a password when wrapping', async () => {
    await expect(wrapGroupKeys(keys, 'short', GROUP)).rejects.toMatchObject({ code: 'ValidationFailed' });
  });

  it('signs challenges in the shared canonical format, bound to every field', () => {
    const fields = { purpose: 'join' as const, groupId: GROUP, machineId: '1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b', nonce: 'n'.repeat(43) };
    const signature = signChallenge(keys, groupChallengeMessage(fields));
    expect(Buffer.from(signature, 'base64')).toHaveLength(64);
    expect(verifyChallengeSignature(keys.signing.publicKey, groupChallengeMessage(fields), signature)).toBe(true);
    for (const changed of [
      { ...fields, purpose: 'password' as const },
      { ...fields, groupId: '00000000-0000-4000-8000-000000000000' },
      { ...fields, machineId: '00000000-0000-4000-8000-000000000000' },
      { ...fields, nonce: 'm'.repeat(43) },
      { ...fields, keyBundle: bundle },
    ]) {
      expect(verifyChallengeSignature(keys.signing.publicKey, groupChallengeMessage(changed), signature)).toBe(false);
    }
    expect(verifyChallengeSignature(createGroupKeys().signing.publicKey, groupChallengeMessage(fields), signature)).toBe(false);
    expect(() => groupChallengeMessage({ ...fields, nonce: 'a\nb' })).toThrow();
  });

  it('keeps keys for the secret store and checks each pair on the way back', () => {
    expect(parseGroupKeys(serializeGroupKeys(keys))).toEqual(keys);
    const mixed = { ...keys, encryption: { ...keys.encryption, publicKey: createGroupKeys().encryption.publicKey } };
    expect(() => parseGroupKeys(serializeGroupKeys(mixed))).toThrow(/does not match/);
  });

  it('gives an X25519 key that Node key agreement accepts (what sealing credentials needs)', () => {
    const other = createGroupKeys();
    const pkcs8 = (raw: string) =>
      createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), Buffer.from(raw, 'base64')]), format: 'der', type: 'pkcs8' });
    const spki = (raw: string) =>
      createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), Buffer.from(raw, 'base64')]), format: 'der', type: 'spki' });
    const ab = diffieHellman({ privateKey: pkcs8(keys.encryption.privateKey), publicKey: spki(other.encryption.publicKey) });
    const ba = diffieHellman({ privateKey: pkcs8(other.encryption.privateKey), publicKey: spki(keys.encryption.publicKey) });
    expect(ab.equals(ba)).toBe(true);
  });
});
