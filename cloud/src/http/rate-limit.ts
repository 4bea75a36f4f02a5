/**
 * Fixed-window rate limits kept in the database, so every cloud instance counts the same hits.
 * Used for sign-in (per account, per address) and for key-bundle fetches and join attempts
 * (per group, per user). Over the limit: 429 `RateLimited` with `Retry-After`.
 */
import type { Queryable } from '../db/database.ts';
import { ApiError } from './problem.ts';

export interface RateLimitRule {
  bucket: string;
  limit: number;
  windowSeconds: number;
}

export class RateLimiter {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => Date,
  ) {}

  /** Counts one hit in every rule's window; throws RateLimited when any is over its limit. */
  async hit(rules: readonly RateLimitRule[]): Promise<void> {
    const nowMs = this.now().getTime();
    let retryAfter = 0;
    for (const rule of rules) {
      const windowMs = rule.windowSeconds * 1000;
      const windowStart = new Date(Math.floor(nowMs / windowMs) * windowMs);
      const [row] = await this.db.query<{ hits: number }>(
        `INSERT INTO rate_limit_windows (bucket, window_start, hits) VALUES ($1, $2, 1)
         ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limit_windows.hits + 1
         RETURNING hits`,
        [rule.bucket, windowStart],
      );
      if (row && row.hits > rule.limit) {
        retryAfter = Math.max(retryAfter, Math.ceil((windowStart.getTime() + windowMs - nowMs) / 1000));
      }
    }
    if (retryAfter > 0) {
      throw new ApiError('RateLimited', `Too many attempts; try again in ${retryAfter} seconds.`, { retryAfter });
    }
  }

  /** Forgets windows that ended; called now and then so the table stays small. */
  async prune(): Promise<void> {
    await this.db.query(`DELETE FROM rate_limit_windows WHERE window_start < $1`, [
      new Date(this.now().getTime() - 24 * 3600 * 1000),
    ]);
  }
}
