/**
 * Refresh tokens: opaque, stored as SHA-256 hashes, one family per sign-in. Each use rotates
 * the token (the old one is marked used, a new one of the same family is issued); presenting
 * a token that was already used means it was stolen or copied, so the whole family is revoked
 * and the holder of the newest token must sign in again (OAuth 2.0 Security BCP, 4.14).
 */
import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../db/database.ts';
import { hashOpaqueToken, newOpaqueToken } from '../auth/tokens.ts';
import { recordAudit } from '../audit/audit.ts';

export const REFRESH_TOKEN_PREFIX = 'mrrt';

/** Stores a new refresh token (new family unless `familyId` is given) and returns it in clear. */
export async function issueRefreshToken(
  tx: Queryable,
  userId: string,
  now: Date,
  lifetimeSeconds: number,
  familyId: string = randomUUID(),
): Promise<string> {
  const token = newOpaqueToken(REFRESH_TOKEN_PREFIX);
  await tx.query(
    `INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)`,
    [hashOpaqueToken(token), familyId, userId, new Date(now.getTime() + lifetimeSeconds * 1000), now],
  );
  return token;
}

export type RotateResult =
  | { ok: true; userId: string; refreshToken: string }
  | { ok: false; reason: 'unknown' | 'revoked' | 'expired' | 'replayed' };

/**
 * Uses a refresh token: rotates it, or revokes its family when it was already used. The row
 * lock makes two simultaneous uses of one token count as a replay, as they should.
 */
export async function rotateRefreshToken(
  db: Database,
  token: string,
  now: Date,
  lifetimeSeconds: number,
): Promise<RotateResult> {
  return db.transaction(async (tx): Promise<RotateResult> => {
    const [row] = await tx.query<{
      family_id: string;
      user_id: string;
      expires_at: Date;
      used_at: Date | null;
      revoked_at: Date | null;
    }>(
      `SELECT family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`,
      [hashOpaqueToken(token)],
    );
    if (!row) return { ok: false, reason: 'unknown' };
    if (row.revoked_at) return { ok: false, reason: 'revoked' };
    if (row.used_at) {
      const revoked = await revokeFamily(tx, row.family_id, now);
      if (revoked > 0) {
        await recordAudit(tx, {
          actor: { kind: 'system' },
          action: 'refreshToken.replayDetected',
          targetType: 'user',
          targetId: row.user_id,
          detail: { family: row.family_id, revokedTokens: revoked },
        });
      }
      return { ok: false, reason: 'replayed' };
    }
    if (row.expires_at.getTime() <= now.getTime()) return { ok: false, reason: 'expired' };
    await tx.query(`UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1`, [hashOpaqueToken(token), now]);
    const refreshToken = await issueRefreshToken(tx, row.user_id, now, lifetimeSeconds, row.family_id);
    return { ok: true, userId: row.user_id, refreshToken };
  });
}

/** Revokes every token of the family; returns how many were still live. */
export async function revokeFamily(tx: Queryable, familyId: string, now: Date): Promise<number> {
  const rows = await tx.query(
    `UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL RETURNING token_hash`,
    [familyId, now],
  );
  return rows.length;
}

/** Sign-out: revokes the family of the given token. Unknown tokens are ignored (nothing to do). */
export async function revokeFamilyOf(db: Database, token: string, now: Date): Promise<void> {
  await db.transaction(async (tx) => {
    const [row] = await tx.query<{ family_id: string }>(`SELECT family_id FROM refresh_tokens WHERE token_hash = $1`, [
      hashOpaqueToken(token),
    ]);
    if (row) await revokeFamily(tx, row.family_id, now);
  });
}

/** Drops tokens that expired long ago, so the table stays small. */
export async function pruneRefreshTokens(db: Queryable, now: Date): Promise<void> {
  await db.query(`DELETE FROM refresh_tokens WHERE expires_at < $1`, [new Date(now.getTime() - 7 * 24 * 3600 * 1000)]);
}
