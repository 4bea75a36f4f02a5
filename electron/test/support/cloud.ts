/** A real cloud in this test process (in-memory PGlite, a free port), for the desktop-service suites. */
import { startCloud, type RunningCloud } from '../../../cloud/src/start.ts';

export function startTestCloud(): Promise<RunningCloud> {
  return startCloud({
    port: 0,
    host: '127.0.0.1',
    logLevel: false,
    // These suites sign in and join many times within a minute.
    config: { rateLimits: { groupPerHour: 100, userPerMinute: 100, signInPerAccount: 20, signInPerAddress: 100 } },
  });
}
