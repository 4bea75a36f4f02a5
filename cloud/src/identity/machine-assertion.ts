/**
 * Machine sign-in: verifies the JWT assertion a machine signs with its Ed25519 key, exactly as
 * protocol/machine-assertion.ts describes (alg EdDSA, iss = sub = machine id, our audience,
 * short-lived, single-use jti, `fph` = the registered fingerprint hash).
 */
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, errors as joseErrors } from 'jose';
import type { Database } from '../db/database.ts';
import { MACHINE_ASSERTION_AUDIENCE, MACHINE_ASSERTION_MAX_SECONDS } from '../../../protocol/machine-assertion.ts';
import { ApiError } from '../http/problem.ts';
import { recordAudit } from '../audit/audit.ts';

/** Clock skew tolerated between a machine and the cloud. */
const CLOCK_TOLERANCE_SECONDS = 30;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const refused = (why: string) => new ApiError('Unauthorized', `The machine assertion was refused: ${why}.`);

/** The raw 32-byte Ed25519 public key (base64) as a key jose can verify with. */
async function importSigningKey(publicKeyBase64: string) {
  const raw = Buffer.from(publicKeyBase64, 'base64');
  if (raw.length !== 32) throw refused('the machine has no usable signing key');
  return importJWK({ kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, 'EdDSA');
}

type MachineRow = {
  id: string;
  owner_id: string;
  environment_id: string;
  group_id: string | null;
  signing_public_key: string;
  fingerprint_hash: string;
};

/**
 * Returns the machine id the assertion proves, or throws: 401 Unauthorized for anything not
 * acceptable (unknown machine, bad signature, expired, too long-lived, reused jti), 409
 * MachineCloned when a valid signature comes with another fingerprint (the keys were copied to
 * another host): the machine is then marked clone-suspected and the event audited.
 */
export async function verifyMachineAssertion(db: Database, assertion: string, now: Date): Promise<string> {
  let machineId: unknown;
  try {
    if (decodeProtectedHeader(assertion).alg !== 'EdDSA') throw refused('it must be signed with EdDSA');
    machineId = decodeJwt(assertion).sub;
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw refused('it is not a JWT');
  }
  if (typeof machineId !== 'string' || !UUID.test(machineId)) throw refused('its subject is not a machine id');

  const [machine] = await db.query<MachineRow>(
    `SELECT id, owner_id, environment_id, group_id, signing_public_key, fingerprint_hash FROM machines WHERE id = $1`,
    [machineId],
  );
  if (!machine) throw refused('unknown machine');

  let claims;
  try {
    ({ payload: claims } = await jwtVerify(assertion, await importSigningKey(machine.signing_public_key), {
      algorithms: ['EdDSA'],
      audience: MACHINE_ASSERTION_AUDIENCE,
      issuer: machine.id,
      subject: machine.id,
      currentDate: now,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['iat', 'exp', 'jti', 'fph'],
    }));
  } catch (error) {
    if (error instanceof ApiError) throw error;
    if (error instanceof joseErrors.JWTExpired) throw refused('it has expired');
    if (error instanceof joseErrors.JOSEError) throw refused('its signature or claims are not valid');
    throw error;
  }
  const { iat, exp, jti, fph } = claims as { iat: number; exp: number; jti: unknown; fph: unknown };
  const nowSeconds = Math.floor(now.getTime() / 1000);
  if (exp - iat > MACHINE_ASSERTION_MAX_SECONDS || exp - nowSeconds > MACHINE_ASSERTION_MAX_SECONDS + CLOCK_TOLERANCE_SECONDS) {
    throw refused(`it must expire within ${MACHINE_ASSERTION_MAX_SECONDS} seconds`);
  }
  if (iat > nowSeconds + CLOCK_TOLERANCE_SECONDS) throw refused('it was issued in the future');
  if (typeof jti !== 'string' || jti.length < 8 || jti.length > 200) throw refused('its jti is missing or malformed');
  if (typeof fph !== 'string') throw refused('its fingerprint is missing');

  // Single use: the jti is remembered until the assertion would have expired anyway.
  await db.query(`DELETE FROM used_assertions WHERE expires_at < $1`, [new Date(now.getTime() - CLOCK_TOLERANCE_SECONDS * 1000)]);
  const fresh = await db.query(
    `INSERT INTO used_assertions (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING RETURNING jti`,
    [`${machine.id}:${jti}`, new Date((exp + CLOCK_TOLERANCE_SECONDS) * 1000)],
  );
  if (fresh.length === 0) throw refused('it was already used');

  if (fph !== machine.fingerprint_hash) {
    await db.transaction(async (tx) => {
      await tx.query(`UPDATE machines SET clone_suspected = true WHERE id = $1`, [machine.id]);
      await recordAudit(tx, {
        actor: {
          kind: 'machine',
          machineId: machine.id,
          userId: machine.owner_id,
          environmentId: machine.environment_id,
          groupId: machine.group_id,
        },
        action: 'machine.cloneSuspected',
        targetType: 'machine',
        targetId: machine.id,
        environmentId: machine.environment_id,
        detail: { reason: 'fingerprintMismatch' },
      });
    });
    throw new ApiError(
      'MachineCloned',
      'This machine key was used from a different machine; the machine is marked as a suspected copy. Register this host as a new machine.',
    );
  }
  return machine.id;
}
