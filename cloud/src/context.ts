/** What every route area is given: the database, the settings and the shared services. */
import type { Database } from './db/database.ts';
import type { CloudConfig } from './config.ts';
import type { TokenService } from './auth/tokens.ts';
import type { RateLimiter } from './http/rate-limit.ts';
import type { AgentHub } from './agent/hub.ts';

export interface CloudContext {
  db: Database;
  config: CloudConfig;
  tokens: TokenService;
  rateLimiter: RateLimiter;
  /** The machines' sockets connected to this instance. */
  agentHub: AgentHub;
}
