/**
 * Test fixtures: people and environments written straight into a test cloud's database, and
 * real access tokens for them (signed with the cloud's own key). Fast (no scrypt per user); use
 * the real routes (/setup, /auth/token) in the tests that are about those routes.
 */
import type { Database } from '../src/db/database.ts';
import { TokenService } from '../src/auth/tokens.ts';
import type { EnvironmentRole } from '../../protocol/cloud-api.ts';

export interface FixtureUser {
  id: string;
  email: string;
  displayName: string;
  token: string;
}

export async function createEnvironment(db: Database, name = 'Default', isDefault = true): Promise<string> {
  const [row] = await db.query<{ id: string }>(
    'INSERT INTO environments (name, is_default) VALUES ($1, $2) RETURNING id',
    [name, isDefault],
  );
  return row!.id;
}

export async function accessToken(db: Database, subject: { userId: string } | { machineId: string }): Promise<string> {
  const tokens = await TokenService.load(db, 3600, () => new Date());
  return 'userId' in subject
    ? tokens.issue({ kind: 'user', userId: subject.userId })
    : tokens.issue({ kind: 'machine', machineId: subject.machineId });
}

/** A user with `roles` in `environmentId` (no roles: a stranger to that environment). */
export async function createUser(
  db: Database,
  environmentId: string,
  name: string,
  roles: EnvironmentRole[],
): Promise<FixtureUser> {
  const email = `${name.toLowerCase().replace(/\W+/g, '.')}@example.test`;
  const [row] = await db.query<{ id: string }>(
    // Not a usable password hash: fixture users sign in with minted tokens only.
    `INSERT INTO users (email, display_name, password_hash) VALUES ($1, $2, 'fixture-no-password') RETURNING id`,
    [email, name],
  );
  const id = row!.id;
  for (const role of roles) {
    await db.query('INSERT INTO role_assignments (environment_id, user_id, role) VALUES ($1, $2, $3)', [environmentId, id, role]);
  }
  return { id, email, displayName: name, token: await accessToken(db, { userId: id }) };
}

/**
 * A registered machine row with real (throwaway) public keys, for tests that are not about
 * registration itself; `fingerprint` is what its agent will present.
 */
export async function createMachineRow(
  db: Database,
  environmentId: string,
  ownerId: string,
  options: { name?: string; fingerprint?: string; groupId?: string | null } = {},
): Promise<{ id: string; fingerprint: string; token: string }> {
  const { generateKeyPairSync, randomBytes } = await import('node:crypto');
  const raw = (type: 'ed25519' | 'x25519') =>
    Buffer.from(generateKeyPairSync(type as 'ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
  const fingerprint = options.fingerprint ?? randomBytes(32).toString('hex');
  const [row] = await db.query<{ id: string }>(
    `INSERT INTO machines (environment_id, owner_id, name, signing_public_key, encryption_public_key, fingerprint_hash, group_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
    [environmentId, ownerId, options.name ?? `vm-${fingerprint.slice(0, 6)}`, raw('ed25519'), raw('x25519'), fingerprint, options.groupId ?? null],
  );
  return { id: row!.id, fingerprint, token: await accessToken(db, { machineId: row!.id }) };
}
