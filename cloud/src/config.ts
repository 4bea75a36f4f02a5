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
    /** Key-bundle fetches, and join attempts, per group per hour (each counted on its own). */
    groupPerHour: number;
    /** Key-bundle fetches, and join attempts, per person (or machine, for a machine token) per minute. */
    userPerMinute: number;
    /** Password sign-ins per account per 15 minutes. */
    signInPerAccount: number;
    /** Password sign-ins per client address per 15 minutes. */
    signInPerAddress: number;
  };
  /** Desktop flow runs: limits (reference page defaults) and dispatch timings. */
  runs: RunLimits;
  /** Injectable clock, so limits are tested without waiting. */
  now: () => Date;
}

export interface RunLimits {
  /** A run still running after this long is stopped: TimedOut (24 h). */
  maxRunSeconds: number;
  /** A run still queued after this long fails with QueueTimeout (3 h). */
  maxQueueSeconds: number;
  /** Queued runs per group (or per machine target) before POST /runs answers QueueFull. */
  maxQueuedPerTarget: number;
  /** An assigned run not accepted by then goes back to the queue. */
  acceptSeconds: number;
  /** A running run whose agent has not heartbeated for this long fails with MachineLost. */
  leaseSeconds: number;
  /** How often the maintenance sweep runs (timeouts, lapsed leases, stale assignments). */
  sweepSeconds: number;
  /** Log lines kept per run; the rest is dropped (and the logs say so). */
  maxLogLines: number;
  /** A queued run says `QueueTimeoutNear` when less than this is left. */
  queueTimeoutWarningSeconds: number;
  /** SIGTERM → SIGKILL grace the agent gives a flow it stops. */
  stopGraceSeconds: number;
}

export const DEFAULT_RUN_LIMITS: RunLimits = {
  maxRunSeconds: 24 * 3600,
  maxQueueSeconds: 3 * 3600,
  maxQueuedPerTarget: 500,
  acceptSeconds: 5,
  leaseSeconds: 35,
  sweepSeconds: 1,
  maxLogLines: 10_000,
  queueTimeoutWarningSeconds: 15 * 60,
  stopGraceSeconds: 5,
};

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
    runs: { ...DEFAULT_RUN_LIMITS, ...overrides.runs },
  };
}
