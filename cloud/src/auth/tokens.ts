/**
 * Access tokens: short-lived JWTs (HS256, `jose`) signed with a key kept in the database, so
 * several cloud instances sharing one PostgreSQL accept each other's tokens. Opaque secrets
 * (refresh and registration tokens) are random and stored only as SHA-256 hashes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import type { Database } from '../db/database.ts';

export type TokenSubject = { kind: 'user'; userId: string } | { kind: 'machine'; machineId: string };

const ISSUER = 'machine-runtime';
const AUDIENCE = 'machine-runtime-api';

export class TokenService {
  private constructor(
    private readonly key: Uint8Array,
    private readonly lifetimeSeconds: number,
    private readonly now: () => Date,
  ) {}

  /** Loads the signing key, creating it on first start (race-safe across instances). */
  static async load(db: Database, lifetimeSeconds: number, now: () => Date): Promise<TokenService> {
    await db.query(
      `INSERT INTO server_secrets (name, value) VALUES ('access-token-key', $1) ON CONFLICT (name) DO NOTHING`,
      [randomBytes(32).toString('base64')],
    );
    const [row] = await db.query<{ value: string }>(`SELECT value FROM server_secrets WHERE name = 'access-token-key'`);
    if (!row) throw new Error('access token key missing');
    return new TokenService(Buffer.from(row.value, 'base64'), lifetimeSeconds, now);
  }

  get expiresIn(): number {
    return this.lifetimeSeconds;
  }

  async issue(subject: TokenSubject): Promise<string> {
    const issuedAt = Math.floor(this.now().getTime() / 1000);
    return new SignJWT({ typ: subject.kind })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(subject.kind === 'user' ? subject.userId : subject.machineId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + this.lifetimeSeconds)
      .sign(this.key);
  }

  /** The token's subject, or null when it is invalid or expired. */
  async verify(token: string): Promise<TokenSubject | null> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ['HS256'],
        currentDate: this.now(),
      });
      if (typeof payload.sub !== 'string') return null;
      if (payload.typ === 'user') return { kind: 'user', userId: payload.sub };
      if (payload.typ === 'machine') return { kind: 'machine', machineId: payload.sub };
      return null;
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) return null;
      throw error;
    }
  }
}

/** A random opaque secret with a recognisable prefix (helps secret scanners). */
export function newOpaqueToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function hashOpaqueToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
