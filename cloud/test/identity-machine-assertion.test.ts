/**
 * Machine sign-in (`POST /auth/token`, jwt-bearer grant) with a real Ed25519 key: the happy
 * path, every refusal (401) and clone detection (409 MachineCloned).
 */
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { buildCloud, call, DATABASE_ENGINE, type TestCloud } from './helper.ts';
import { createEnvironment, createUser } from './fixtures.ts';
import { TokenService } from '../src/auth/tokens.ts';
import { JWT_BEARER_GRANT, MACHINE_ASSERTION_AUDIENCE, MACHINE_ASSERTION_MAX_SECONDS } from '../../protocol/machine-assertion.ts';
import { fingerprintOf, signMachineAssertion } from '../../electron/runtime/identity.ts';

const API = '/api/v1';

interface TestMachine {
  id: string;
  fingerprint: string;
  privateKey: KeyObject;
}

describe(`machine assertion grant (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let clock = Date.now();
  let environmentId: string;
  let ownerId: string;
  let machine: TestMachine;

  /** A machine row registered with a key pair we hold. */
  async function registerMachine(): Promise<TestMachine> {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
    const fingerprint = fingerprintOf(`os-machine-id-${randomUUID()}`);
    const encryption = Buffer.from(generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
    const [row] = await cloud.db.query<{ id: string }>(
      `INSERT INTO machines (environment_id, owner_id, name, signing_public_key, encryption_public_key, fingerprint_hash)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
      [environmentId, ownerId, `vm-${randomBytes(3).toString('hex')}`, raw, encryption, fingerprint],
    );
    return { id: row!.id, fingerprint, privateKey };
  }

  /** An assertion as protocol/machine-assertion.ts describes it, with any claim overridable. */
  async function assertion(
    m: TestMachine,
    overrides: { iat?: number; exp?: number; jti?: string; fph?: string; aud?: string; sub?: string; iss?: string; key?: KeyObject } = {},
  ): Promise<string> {
    const iat = overrides.iat ?? Math.floor(clock / 1000);
    return new SignJWT({ fph: overrides.fph ?? m.fingerprint })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
      .setIssuer(overrides.iss ?? m.id)
      .setSubject(overrides.sub ?? m.id)
      .setAudience(overrides.aud ?? MACHINE_ASSERTION_AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(overrides.exp ?? iat + 60)
      .setJti(overrides.jti ?? randomUUID())
      .sign(overrides.key ?? m.privateKey);
  }

  const grant = (jwt: string) => call(cloud.app, 'POST', `${API}/auth/token`, { body: { grant_type: JWT_BEARER_GRANT, assertion: jwt } });

  async function expectRefused(jwt: string) {
    const response = await grant(jwt);
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json().code).toBe('Unauthorized');
    return response;
  }

  beforeAll(async () => {
    cloud = await buildCloud({ now: () => new Date(clock) });
    environmentId = await createEnvironment(cloud.db);
    ownerId = (await createUser(cloud.db, environmentId, 'Owner', ['MachineOwner'])).id;
    machine = await registerMachine();
  });
  afterAll(async () => cloud?.close());

  it('gives a machine access token (and no refresh token) for a valid assertion', async () => {
    const response = await grant(await assertion(machine));
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 900 });
    const tokens = await TokenService.load(cloud.db, 900, () => new Date(clock));
    expect(await tokens.verify(body.access_token)).toEqual({ kind: 'machine', machineId: machine.id });
    // A machine token is not a person: /me answers 403.
    expect((await call(cloud.app, 'GET', `${API}/me`, { token: body.access_token })).statusCode).toBe(403);
  });

  it('accepts the assertion the runtime core signs (same contract on both ends)', async () => {
    const jwt = await signMachineAssertion({
      machineId: machine.id,
      fingerprint: machine.fingerprint,
      privateKey: machine.privateKey,
      now: () => new Date(clock),
    });
    expect((await grant(jwt)).statusCode).toBe(200);
  });

  it('refuses a reused jti', async () => {
    const jwt = await assertion(machine);
    expect((await grant(jwt)).statusCode).toBe(200);
    await expectRefused(jwt);
    // The same jti in a freshly signed assertion is refused too.
    const jti = randomUUID();
    expect((await grant(await assertion(machine, { jti }))).statusCode).toBe(200);
    await expectRefused(await assertion(machine, { jti, iat: Math.floor(clock / 1000) - 1 }));
  });

  it('refuses expired, too long-lived and future assertions', async () => {
    const nowSeconds = Math.floor(clock / 1000);
    await expectRefused(await assertion(machine, { iat: nowSeconds - 600, exp: nowSeconds - 300 }));
    await expectRefused(await assertion(machine, { exp: nowSeconds + MACHINE_ASSERTION_MAX_SECONDS + 120 }));
    await expectRefused(await assertion(machine, { iat: nowSeconds + 3600, exp: nowSeconds + 3660 }));
    // An assertion that was fine when signed is refused once the clock passes its exp.
    const jwt = await assertion(machine, { exp: nowSeconds + 60 });
    clock += 5 * 60 * 1000;
    try {
      await expectRefused(jwt);
    } finally {
      clock -= 5 * 60 * 1000;
    }
  });

  it('refuses another key, another audience, a mismatched subject, an unknown machine and garbage', async () => {
    const stranger = generateKeyPairSync('ed25519').privateKey;
    await expectRefused(await assertion(machine, { key: stranger }));
    await expectRefused(await assertion(machine, { aud: 'someone-else' }));
    const other = await registerMachine();
    await expectRefused(await assertion(machine, { iss: other.id }));
    await expectRefused(await assertion({ ...machine, id: randomUUID() }));
    await expectRefused('not.a.jwt');
    await expectRefused(await new SignJWT({ fph: machine.fingerprint }).setProtectedHeader({ alg: 'HS256' }).setSubject(machine.id).sign(randomBytes(32)));
    // alg "none"
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const claims = Buffer.from(JSON.stringify({ sub: machine.id, iss: machine.id, aud: MACHINE_ASSERTION_AUDIENCE, fph: machine.fingerprint })).toString('base64url');
    await expectRefused(`${header}.${claims}.`);
  });

  it('marks a machine whose key signs from another host as a suspected clone (409 MachineCloned)', async () => {
    const victim = await registerMachine();
    const copied = await grant(await assertion(victim, { fph: fingerprintOf('another-host') }));
    expect(copied.statusCode).toBe(409);
    expect(copied.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(copied.json().code).toBe('MachineCloned');

    const [row] = await cloud.db.query<{ clone_suspected: boolean }>('SELECT clone_suspected FROM machines WHERE id = $1', [victim.id]);
    expect(row!.clone_suspected).toBe(true);
    const audit = await cloud.db.query<{ actor_type: string; target_id: string; environment_id: string }>(
      `SELECT actor_type, target_id, environment_id FROM audit_events WHERE action = 'machine.cloneSuspected'`,
    );
    expect(audit).toEqual([{ actor_type: 'machine', target_id: victim.id, environment_id: environmentId }]);
    // Other machines are not affected.
    const [untouched] = await cloud.db.query<{ clone_suspected: boolean }>('SELECT clone_suspected FROM machines WHERE id = $1', [machine.id]);
    expect(untouched!.clone_suspected).toBe(false);
  });

  it('forgets used assertion ids once they have expired', async () => {
    const jwt = await assertion(machine);
    expect((await grant(jwt)).statusCode).toBe(200);
    clock += 10 * 60 * 1000;
    try {
      expect((await grant(await assertion(machine))).statusCode).toBe(200);
      const rows = await cloud.db.query<{ n: number }>('SELECT count(*)::int AS n FROM used_assertions WHERE expires_at < $1', [
        new Date(clock - 60_000),
      ]);
      expect(rows[0]!.n).toBe(0);
    } finally {
      clock -= 10 * 60 * 1000;
    }
  });
});
