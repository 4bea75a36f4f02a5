/** Fixtures for the runs suites: groups with real X25519 keys (group-crypto.ts), flows, connections. */
import type { Database } from '../src/db/database.ts';
import { createGroupKeys, type GroupKeys } from '../../electron/runtime/group-crypto.ts';

/** A machine group with a key (as if its first machine had joined), owned by `ownerId`. */
export async function createKeyedGroup(
  db: Database,
  environmentId: string,
  ownerId: string,
  name = `group-${Math.random().toString(36).slice(2, 8)}`,
): Promise<{ id: string; keys: GroupKeys }> {
  const keys = createGroupKeys();
  const [row] = await db.query<{ id: string }>(
    `INSERT INTO machine_groups (environment_id, owner_id, name, key_bundle, signing_public_key, encryption_public_key, key_version)
     VALUES ($1, $2, $3, 'b3BhcXVlLWJ1bmRsZQ==', $4, $5, 1) RETURNING id`,
    [environmentId, ownerId, name, keys.signing.publicKey, keys.encryption.publicKey],
  );
  return { id: row!.id, keys };
}

export async function shareGroup(db: Database, groupId: string, userId: string, level: 'CoOwner' | 'User'): Promise<void> {
  await db.query('INSERT INTO group_access (group_id, user_id, level) VALUES ($1, $2, $3)', [groupId, userId, level]);
}

/** A registered machine row whose X25519 private key the test keeps (to open machine-sealed credentials). */
export async function createKeyedMachine(
  db: Database,
  environmentId: string,
  ownerId: string,
  options: { name?: string; groupId?: string | null } = {},
): Promise<{ id: string; fingerprint: string; token: string; encryption: { publicKey: string; privateKey: string } }> {
  const { generateKeyPairSync, randomBytes } = await import('node:crypto');
  const { accessToken } = await import('./fixtures.ts');
  const pair = (type: 'ed25519' | 'x25519') => {
    const jwk = generateKeyPairSync(type as 'x25519').privateKey.export({ format: 'jwk' });
    return { publicKey: Buffer.from(jwk.x!, 'base64url').toString('base64'), privateKey: Buffer.from(jwk.d!, 'base64url').toString('base64') };
  };
  const encryption = pair('x25519');
  const fingerprint = randomBytes(32).toString('hex');
  const [row] = await db.query<{ id: string }>(
    `INSERT INTO machines (environment_id, owner_id, name, signing_public_key, encryption_public_key, fingerprint_hash, group_id, joined_group_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $7::uuid IS NULL THEN NULL ELSE now() END) RETURNING id`,
    [environmentId, ownerId, options.name ?? `vm-${fingerprint.slice(0, 6)}`, pair('ed25519').publicKey, encryption.publicKey, fingerprint, options.groupId ?? null],
  );
  return { id: row!.id, fingerprint, token: await accessToken(db, { machineId: row!.id }), encryption };
}
