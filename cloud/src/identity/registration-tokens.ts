/**
 * Registration tokens: how IT staff enrol VMs without signing in on each one. A token is
 * random, shown once, stored only as a SHA-256 hash, expiring (default 1 h) and limited in
 * uses (default 1). Machines registered with one belong to its creator.
 */
import type { Queryable } from '../db/database.ts';
import { hashOpaqueToken } from '../auth/tokens.ts';

export const REGISTRATION_TOKEN_PREFIX = 'mrreg';

export interface ConsumedRegistrationToken {
  tokenId: string;
  environmentId: string;
  creatorId: string;
}

/**
 * Uses one of the token's uses, atomically (a single conditional UPDATE: two machines racing
 * for the last use cannot both get it). Null when the token is unknown, used up, revoked or
 * expired. Call it inside the transaction that registers the machine, so a failed
 * registration gives the use back.
 */
export async function consumeRegistrationToken(
  tx: Queryable,
  token: string,
  now: Date,
): Promise<ConsumedRegistrationToken | null> {
  const [row] = await tx.query<{ id: string; environment_id: string; creator_id: string }>(
    `UPDATE registration_tokens SET uses_left = uses_left - 1
      WHERE token_hash = $1 AND uses_left > 0 AND revoked_at IS NULL AND expires_at > $2
      RETURNING id, environment_id, creator_id`,
    [hashOpaqueToken(token), now],
  );
  return row ? { tokenId: row.id, environmentId: row.environment_id, creatorId: row.creator_id } : null;
}
