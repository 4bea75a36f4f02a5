/** Cloud settings with their defaults. Limits follow the reference page; all configurable. */
export interface CloudConfig {
  /** `postgres://…` selects PostgreSQL; otherwise PGlite in `dataDir` (in memory when absent). */
  databaseUrl?: string;
  dataDir?: string;
  accessTokenSeconds: number;
  refreshTokenSeconds: number;
  registrationTokenDefaultSeconds: number;
  maxMachinesPerGroup: number;
  joinChallengeSeconds: number;
  rateLimits: {
    /** Key-bundle fetches and join attempts per group per hour. */
    groupPerHour: number;
    /** Key-bundle fetches and join attempts per user per minute. */
    userPerMinute: number;
    /** Password sign-ins per account per 15 minutes. */
    signInPerAccount: number;
    /** Password sign-ins per client address per 15 minutes. */
    signInPerAddress: number;
  };
  /** Injectable clock, so limits are tested without waiting. */
  now: () => Date;
}

export function defaultConfig(overrides: Partial<CloudConfig> = {}): CloudConfig {
  return {
    accessTokenSeconds: 15 * 60,
    refreshTokenSeconds: 30 * 24 * 3600,
    registrationTokenDefaultSeconds: 3600,
    maxMachinesPerGroup: 50,
    joinChallengeSeconds: 120,
    rateLimits: { groupPerHour: 100, userPerMinute: 10, signInPerAccount: 10, signInPerAddress: 50 },
    now: () => new Date(),
    ...overrides,
  };
}
