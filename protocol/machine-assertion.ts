/**
 * How a machine signs in (`POST /auth/token`, grant `urn:ietf:params:oauth:grant-type:jwt-bearer`):
 * a short JWT signed with the machine's Ed25519 private key (alg `EdDSA`), as GitHub's runner does.
 *
 *   header  { alg: "EdDSA", typ: "JWT" }
 *   claims  { iss: machineId, sub: machineId, aud: MACHINE_ASSERTION_AUDIENCE,
 *             iat, exp (at most MACHINE_ASSERTION_MAX_SECONDS after iat), jti (random, single use),
 *             fph: the machine's fingerprint (hex SHA-256, see below) }
 *
 * The cloud verifies the signature with the machine's registered signing key, refuses a reused
 * `jti`, and compares `fph` with the fingerprint registered: a different one means the machine's
 * keys were copied to another host → 409 `MachineCloned` and the machine is marked clone-suspected.
 *
 * Keys on the wire: public keys are the raw 32-byte Ed25519 / X25519 keys, base64 (standard,
 * padded). Fingerprint: lowercase hex SHA-256 of `machine-runtime-fingerprint:v1:<OS machine id>`.
 */
export const MACHINE_ASSERTION_AUDIENCE = 'machine-runtime/auth/token';
export const MACHINE_ASSERTION_MAX_SECONDS = 300;
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
