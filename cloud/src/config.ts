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
  agent: {
    /** How often agents are asked to heartbeat. */
    heartbeatSeconds: number;
    /** A machine is Offline this long after its last heartbeat. */
    offlineAfterSeconds: number;
    /** How often the presence sweeper looks for silent machines. */
    sweepSeconds: number;
    /** An agent must say hello this soon after connecting. */
    helloTimeoutSeconds: number;
  };
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
    agent: { heartbeatSeconds: 10, offlineAfterSeconds: 30, sweepSeconds: 5, helloTimeoutSeconds: 10 },
    rateLimits: { groupPerHour: 100, userPerMinute: 10, signInPerAccount: 10, signInPerAddress: 50 },
    now: () => new Date(),
    ...overrides,
  };
}
