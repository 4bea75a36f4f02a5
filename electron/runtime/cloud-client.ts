/**
 * The machine's HTTP client for the cloud API (`<server>/api/v1`), typed by protocol/.
 *
 *  - Calls act as the signed-in user (`as: 'user'`, the default), as this machine
 *    (`as: 'machine'`: membership proofs, the agent), with a registration token, or anonymously.
 *  - Access tokens are obtained and renewed transparently: the user's from the refresh token in
 *    the SecretStore (which rotates: every new one is stored at once), the machine's from a fresh
 *    signed assertion (protocol/machine-assertion.ts). A 401 renews the token once and retries.
 *  - Network failures, 5xx and 429 are retried with jittered exponential backoff (429 waits for
 *    Retry-After when that is short); other 4xx never are. A request that may have reached the
 *    server is repeated only when that is harmless (GET/PUT/DELETE, or `idempotent: true`);
 *    a POST is repeated only when the server certainly did not act (connection refused, 503, 429).
 *  - Failures become `CloudError { status, code, detail, retryAfter }`: `code` is the server's
 *    stable code (protocol/errors.ts) or one of the client's own, listed in `ClientErrorCode`.
 */
import { decodeJwt } from 'jose';
import { ERROR_TITLES, isErrorCode, type ErrorCode, type Problem } from '../../protocol/errors.ts';
import { JWT_BEARER_GRANT } from '../../protocol/machine-assertion.ts';
import type {
  CreateRegistrationTokenRequest,
  CreateUserRequest,
  CreatedRegistrationToken,
  Environment,
  Me,
  PutRoleAssignmentRequest,
  RoleAssignment,
  SetupRequest,
  SetupResponse,
  SetupStatus,
  TokenResponse,
  UpdateEnvironmentRequest,
  UserSummary,
} from '../../protocol/cloud-api.ts';
import type { Machine, RegisterMachineBody, UpdateMachineBody } from '../../protocol/api/machines.ts';
import type {
  ChallengePurpose,
  ChallengeResponse,
  CreateGroupBody,
  GroupAccessEntry,
  JoinGroupBody,
  JoinGroupResponse,
  KeyBundleResponse,
  MachineGroup,
  ReplaceKeyBundleBody,
  ReplaceKeyBundleResponse,
  ShareGroupBody,
  UpdateGroupBody,
} from '../../protocol/api/groups.ts';
import type {
  Connection,
  CreateConnectionBody,
  CreateDesktopFlowBody,
  CreateRunBody,
  DesktopFlow,
  ListRunsQuery,
  Run,
  RunEvents,
  RunLogs,
  UpdateRunBody,
} from '../../protocol/api/runs.ts';
import type { SecretStore } from './secret-store.ts';

export const API_PREFIX = '/api/v1';

// ───────────────────────────── errors ─────────────────────────────

/**
 * Codes the client makes itself (the server's are `ErrorCode`):
 *  - `Unreachable`: no answer from the server (refused, DNS, timeout, reset) after the retries;
 *    `status` 0; the message names the server address.
 *  - `NotSignedIn`: a user call, but this profile holds no refresh token.
 *  - `NotRegistered`: a machine call, but this profile has no registered machine (or its keys).
 *  - `BadResponse`: the server answered something that is not the API (an HTML error page from
 *    a proxy, a body that is not JSON): probably the wrong address.
 */
export type ClientErrorCode = 'Unreachable' | 'NotSignedIn' | 'NotRegistered' | 'BadResponse';
export type CloudErrorCode = ErrorCode | ClientErrorCode;

export class CloudError extends Error {
  /** HTTP status, or 0 when the server did not answer / for client-side codes. */
  readonly status: number;
  readonly code: CloudErrorCode;
  /** One sentence for a person (the problem's `detail`). */
  readonly detail: string;
  /** Seconds to wait before trying again (RateLimited, ServiceUnavailable). */
  readonly retryAfter?: number;
  /** Field errors of a ValidationFailed answer. */
  readonly errors?: Problem['errors'];

  constructor(init: { status: number; code: CloudErrorCode; detail: string; retryAfter?: number; errors?: Problem['errors']; cause?: unknown }) {
    super(init.detail, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'CloudError';
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail;
    if (init.retryAfter !== undefined) this.retryAfter = init.retryAfter;
    if (init.errors !== undefined) this.errors = init.errors;
  }
}

export function isCloudError(error: unknown, code?: CloudErrorCode): error is CloudError {
  return error instanceof CloudError && (code === undefined || error.code === code);
}

// ───────────────────────────── options ─────────────────────────────

export type CallAs = 'user' | 'machine' | 'anonymous';

export interface RetryPolicy {
  /** Tries in all, the first included (default 4). */
  attempts: number;
  /** First backoff step (default 300 ms); doubles each time, jittered between half and full. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A 429 whose Retry-After is longer than this is not waited for: RateLimited at once (default 10 s). */
  maxRetryAfterSeconds: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 300, maxDelayMs: 5000, maxRetryAfterSeconds: 10 };

export interface CloudClientOptions {
  /** The server's address, e.g. `http://127.0.0.1:8080` (see `normalizeServerUrl`). */
  serverUrl: string;
  /** Holds the user's `refresh-token`. */
  secrets: SecretStore;
  /** Makes a fresh machine sign-in assertion; throw `CloudError('NotRegistered')` when there is no machine. */
  machineAssertion?: () => Promise<string>;
  /**
   * Runs the refresh-token rotation under a lock shared with other processes of this profile
   * (RuntimeProfile passes a file lock). Default: no lock between processes.
   */
  refreshLock?: <T>(fn: () => Promise<T>) => Promise<T>;
  retry?: Partial<RetryPolicy>;
  /** Per try (default 30 s). */
  timeoutMs?: number;
  /** Renew an access token this long before it expires (default 30 s). */
  expirySkewMs?: number;
  userAgent?: string;
  fetch?: typeof fetch;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface RequestOptions {
  as?: CallAs;
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  /** Authenticates with `Authorization: RegistrationToken <t>` instead of a bearer token. */
  registrationToken?: string;
  /** Repeating this request is harmless (lets a POST be retried after a 5xx or a reset). */
  idempotent?: boolean;
}

interface CachedToken {
  token: string;
  /** Epoch ms. */
  expiresAt: number;
}

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
/** Errors raised before a request could reach the server: always safe to retry. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/**
 * Accepts `host:port`, `http://host:port`, with or without a trailing slash or `/api/v1`.
 * Throws a TypeError with a sentence for a person when it is not an http(s) address.
 */
export function normalizeServerUrl(input: string): string {
  const raw = input.trim();
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new TypeError(`"${input}" is not a server address; give one like http://127.0.0.1:8080.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`The server address must start with http:// or https://, not ${url.protocol}//.`);
  }
  if (url.username || url.password) throw new TypeError('The server address must not contain a user name or password.');
  let pathname = url.pathname.replace(/\/+$/, '');
  if (pathname.endsWith(API_PREFIX)) pathname = pathname.slice(0, -API_PREFIX.length);
  return `${url.protocol}//${url.host}${pathname}`;
}

// ───────────────────────────── the client ─────────────────────────────

export class CloudClient {
  readonly serverUrl: string;
  private readonly retry: RetryPolicy;
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly tokens = new Map<'user' | 'machine', CachedToken>();
  private readonly pending = new Map<'user' | 'machine', Promise<CachedToken>>();

  constructor(private readonly options: CloudClientOptions) {
    this.serverUrl = normalizeServerUrl(options.serverUrl);
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.fetchImpl = options.fetch ?? fetch;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  /** Sends one API call and returns its JSON body (undefined for 204). */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const verb = method.toUpperCase();
    const as: CallAs = options.registrationToken !== undefined ? 'anonymous' : (options.as ?? 'user');
    let renewed = false;
    for (;;) {
      const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
      let usedToken: string | undefined;
      if (options.registrationToken !== undefined) {
        headers.authorization = `RegistrationToken ${options.registrationToken}`;
      } else if (as !== 'anonymous') {
        usedToken = await this.accessToken(as);
        headers.authorization = `Bearer ${usedToken}`;
      }
      const response = await this.send(verb, this.url(path, options.query), options.body, headers, options.idempotent);
      if (response.status === 401 && usedToken !== undefined && as !== 'anonymous' && !renewed) {
        // The access token expired or was revoked early: renew it once and try again.
        renewed = true;
        this.forget(as, usedToken);
        await response.body?.cancel().catch(() => undefined);
        continue;
      }
      return this.read<T>(response);
    }
  }

  /**
   * A valid access token for the user or the machine, renewed when it is about to expire (or
   * when `forceRefresh`). The agent socket uses this: `getAccessToken: (force) =>
   * client.accessToken('machine', { forceRefresh: force })`.
   */
  async accessToken(as: 'user' | 'machine', options: { forceRefresh?: boolean } = {}): Promise<string> {
    const cached = this.tokens.get(as);
    const skew = this.options.expirySkewMs ?? 30_000;
    if (!options.forceRefresh && cached && cached.expiresAt - skew > this.now()) return cached.token;
    if (options.forceRefresh && cached) this.forget(as, cached.token);
    let pending = this.pending.get(as);
    if (!pending) {
      // One renewal at a time: a refresh token must never be presented twice.
      pending = (as === 'user' ? this.renewUserToken() : this.renewMachineToken()).finally(() => this.pending.delete(as));
      this.pending.set(as, pending);
    }
    return (await pending).token;
  }

  /** True when this profile holds a refresh token (it may still be refused by the server). */
  async hasUserSession(): Promise<boolean> {
    return (await this.options.secrets.get('refresh-token')) !== null;
  }

  // ── sessions ──

  /** `POST /setup`: the first administrator; they are signed in afterwards. */
  async setup(body: SetupRequest): Promise<SetupResponse> {
    const result = await this.request<SetupResponse>('POST', '/setup', { as: 'anonymous', body });
    await this.keepUserSession(result);
    return result;
  }

  /** Password sign-in; keeps the refresh token in the SecretStore. */
  async signIn(email: string, password: string): Promise<TokenResponse> {
    const result = await this.request<TokenResponse>('POST', '/auth/token', {
      as: 'anonymous',
      body: { grant_type: 'password', email, password },
      idempotent: true, // a repeated sign-in only starts another session
    });
    await this.keepUserSession(result);
    return result;
  }

  /**
   * Forgets the user's tokens here and revokes the refresh token on the server when it can be
   * reached. Returns whether the server confirmed.
   */
  async signOut(): Promise<{ revokedOnServer: boolean }> {
    const refreshToken = await this.options.secrets.get('refresh-token');
    this.tokens.delete('user');
    let revokedOnServer = false;
    if (refreshToken) {
      try {
        await this.request('POST', '/auth/logout', { as: 'anonymous', body: { refresh_token: refreshToken }, idempotent: true });
        revokedOnServer = true;
      } catch {
        /* signed out locally anyway */
      }
    }
    await this.options.secrets.delete('refresh-token');
    return { revokedOnServer };
  }

  /** Drops the cached machine token (after re-registering with new keys). */
  forgetMachineToken(): void {
    this.tokens.delete('machine');
  }

  // ── identity (CONTRACT.md "Setup and sign-in") ──

  setupStatus(): Promise<SetupStatus> {
    return this.request('GET', '/setup', { as: 'anonymous' });
  }
  me(): Promise<Me> {
    return this.request('GET', '/me');
  }
  listUsers(search?: string): Promise<UserSummary[]> {
    return this.request('GET', '/users', { query: { search } });
  }
  createUser(body: CreateUserRequest): Promise<UserSummary> {
    return this.request('POST', '/users', { body });
  }
  listEnvironments(): Promise<Environment[]> {
    return this.request('GET', '/environments');
  }
  updateEnvironment(id: string, body: UpdateEnvironmentRequest): Promise<Environment> {
    return this.request('PATCH', `/environments/${enc(id)}`, { body });
  }
  putRoleAssignment(environmentId: string, userId: string, body: PutRoleAssignmentRequest): Promise<RoleAssignment> {
    return this.request('PUT', `/environments/${enc(environmentId)}/role-assignments/${enc(userId)}`, { body });
  }
  createRegistrationToken(environmentId: string, body: CreateRegistrationTokenRequest = {}): Promise<CreatedRegistrationToken> {
    return this.request('POST', `/environments/${enc(environmentId)}/registration-tokens`, { body });
  }

  // ── machines ──

  /** As the signed-in user, or with `registrationToken` (an IT-staff enrolment, no sign-in). */
  registerMachine(body: RegisterMachineBody, auth: { registrationToken?: string } = {}): Promise<Machine> {
    return this.request('POST', '/machines', { body, ...(auth.registrationToken !== undefined ? { registrationToken: auth.registrationToken } : {}) });
  }
  listMachines(query: { environmentId?: string } = {}, as: CallAs = 'user'): Promise<Machine[]> {
    return this.request('GET', '/machines', { query, as });
  }
  getMachine(id: string, as: CallAs = 'user'): Promise<Machine> {
    return this.request('GET', `/machines/${enc(id)}`, { as });
  }
  updateMachine(id: string, body: UpdateMachineBody, as: CallAs = 'user'): Promise<Machine> {
    return this.request('PATCH', `/machines/${enc(id)}`, { body, as });
  }
  deleteMachine(id: string, as: CallAs = 'user'): Promise<void> {
    return this.request('DELETE', `/machines/${enc(id)}`, { as });
  }

  // ── machine groups ──

  listGroups(query: { environmentId?: string } = {}, as: CallAs = 'user'): Promise<MachineGroup[]> {
    return this.request('GET', '/machine-groups', { query, as });
  }
  createGroup(body: CreateGroupBody): Promise<MachineGroup> {
    return this.request('POST', '/machine-groups', { body });
  }
  getGroup(id: string, as: CallAs = 'user'): Promise<MachineGroup> {
    return this.request('GET', `/machine-groups/${enc(id)}`, { as });
  }
  updateGroup(id: string, body: UpdateGroupBody): Promise<MachineGroup> {
    return this.request('PATCH', `/machine-groups/${enc(id)}`, { body });
  }
  deleteGroup(id: string): Promise<void> {
    return this.request('DELETE', `/machine-groups/${enc(id)}`);
  }
  listGroupMachines(id: string, as: CallAs = 'user'): Promise<Machine[]> {
    return this.request('GET', `/machine-groups/${enc(id)}/machines`, { as });
  }
  /** The machine leaves (as: 'machine', itself) or is removed by a co-owner (as: 'user'). */
  removeGroupMachine(id: string, machineId: string, as: CallAs = 'user'): Promise<{ groupId: string; machineId: string } | undefined> {
    return this.request('DELETE', `/machine-groups/${enc(id)}/machines/${enc(machineId)}`, { as });
  }
  listGroupAccess(id: string): Promise<GroupAccessEntry[]> {
    return this.request('GET', `/machine-groups/${enc(id)}/access`);
  }
  shareGroup(id: string, userId: string, body: ShareGroupBody): Promise<GroupAccessEntry> {
    return this.request('PUT', `/machine-groups/${enc(id)}/access/${enc(userId)}`, { body });
  }
  unshareGroup(id: string, userId: string): Promise<void> {
    return this.request('DELETE', `/machine-groups/${enc(id)}/access/${enc(userId)}`);
  }

  // ── membership (as the machine; protocol/api/groups.ts) ──

  getKeyBundle(groupId: string): Promise<KeyBundleResponse> {
    return this.request('GET', `/machine-groups/${enc(groupId)}/key-bundle`, { as: 'machine' });
  }
  createChallenge(groupId: string, purpose: ChallengePurpose): Promise<ChallengeResponse> {
    return this.request('POST', `/machine-groups/${enc(groupId)}/challenges`, { as: 'machine', body: { purpose } });
  }
  joinGroup(groupId: string, body: JoinGroupBody): Promise<JoinGroupResponse> {
    return this.request('POST', `/machine-groups/${enc(groupId)}/members`, { as: 'machine', body });
  }
  replaceKeyBundle(groupId: string, body: ReplaceKeyBundleBody): Promise<ReplaceKeyBundleResponse> {
    return this.request('PUT', `/machine-groups/${enc(groupId)}/key-bundle`, { as: 'machine', body });
  }

  // ── connections, desktop flows, runs (protocol/api/runs.ts) ──

  createConnection(body: CreateConnectionBody): Promise<{ id: string; status: Connection['status'] }> {
    return this.request('POST', '/connections', { body });
  }
  listConnections(): Promise<Connection[]> {
    return this.request('GET', '/connections');
  }
  createDesktopFlow(body: CreateDesktopFlowBody): Promise<DesktopFlow> {
    return this.request('POST', '/desktop-flows', { body });
  }
  listDesktopFlows(): Promise<DesktopFlow[]> {
    return this.request('GET', '/desktop-flows');
  }
  queueRun(body: CreateRunBody): Promise<{ id: string; status: 'Queued' }> {
    return this.request('POST', '/runs', { body });
  }
  getRun(id: string): Promise<Run> {
    return this.request('GET', `/runs/${enc(id)}`);
  }
  listRuns(query: ListRunsQuery = {}): Promise<Run[]> {
    return this.request('GET', '/runs', { query });
  }
  cancelRun(id: string): Promise<Run> {
    return this.request('POST', `/runs/${enc(id)}/cancel`, { idempotent: true });
  }
  runLogs(id: string, query: { after?: number; limit?: number } = {}): Promise<RunLogs> {
    return this.request('GET', `/runs/${enc(id)}/logs`, { query });
  }
  /** Change a queued run's priority (409 RunNotQueued once a machine has it). Repeating it changes nothing more. */
  changeRunPriority(id: string, priority: UpdateRunBody['priority']): Promise<Run> {
    return this.request('PATCH', `/runs/${enc(id)}`, { body: { priority } satisfies UpdateRunBody, idempotent: true });
  }
  /** Put a queued run ahead of every other queued run (co-owners, the machine's owner, admins). */
  moveRunToTop(id: string): Promise<Run> {
    return this.request('POST', `/runs/${enc(id)}/move-to-top`);
  }
  /** What happened to a run in the queue, oldest first. */
  runEvents(id: string): Promise<RunEvents> {
    return this.request('GET', `/runs/${enc(id)}/events`);
  }

  // ───────────────────────────── internals ─────────────────────────────

  private url(path: string, query?: RequestOptions['query']): string {
    const url = new URL(`${this.serverUrl}${API_PREFIX}${path.startsWith('/') ? path : `/${path}`}`);
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) url.searchParams.set(key, String(value));
    return url.toString();
  }

  private forget(as: 'user' | 'machine', token: string): void {
    if (this.tokens.get(as)?.token === token) this.tokens.delete(as);
  }

  private cache(as: 'user' | 'machine', response: { access_token: string; expires_in?: number }): CachedToken {
    let expiresAt: number;
    if (typeof response.expires_in === 'number') {
      expiresAt = this.now() + response.expires_in * 1000;
    } else {
      const exp = safeExp(response.access_token);
      expiresAt = exp !== undefined ? exp * 1000 : this.now() + 60_000;
    }
    const entry = { token: response.access_token, expiresAt };
    this.tokens.set(as, entry);
    return entry;
  }

  private async keepUserSession(result: { access_token: string; expires_in?: number; refresh_token?: string }): Promise<void> {
    if (result.refresh_token) await this.options.secrets.set('refresh-token', result.refresh_token);
    this.cache('user', result);
  }

  private async renewUserToken(): Promise<CachedToken> {
    const rotate = async (): Promise<CachedToken> => {
      // Read inside the lock: another process may have rotated it a moment ago.
      const refreshToken = await this.options.secrets.get('refresh-token');
      if (!refreshToken) {
        throw new CloudError({ status: 0, code: 'NotSignedIn', detail: `You are not signed in to ${this.serverUrl}.` });
      }
      let result: TokenResponse;
      try {
        // Never `idempotent`: a refresh token presented twice revokes the whole session.
        result = await this.request<TokenResponse>('POST', '/auth/token', {
          as: 'anonymous',
          body: { grant_type: 'refresh_token', refresh_token: refreshToken },
        });
      } catch (error) {
        if (isCloudError(error, 'Unauthorized')) {
          // Dead for good (expired, revoked, replayed): drop it unless another process replaced it.
          if ((await this.options.secrets.get('refresh-token')) === refreshToken) await this.options.secrets.delete('refresh-token');
        }
        throw error;
      }
      if (!result.refresh_token) throw badResponse(this.serverUrl, 'the token answer holds no refresh token');
      await this.options.secrets.set('refresh-token', result.refresh_token);
      return this.cache('user', result);
    };
    return this.options.refreshLock ? this.options.refreshLock(rotate) : rotate();
  }

  private async renewMachineToken(): Promise<CachedToken> {
    if (!this.options.machineAssertion) {
      throw new CloudError({ status: 0, code: 'NotRegistered', detail: 'This machine is not registered.' });
    }
    const assertion = await this.options.machineAssertion();
    // Not `idempotent`: an assertion is single use (a 503 or refused connection is retried still).
    const result = await this.request<TokenResponse>('POST', '/auth/token', {
      as: 'anonymous',
      body: { grant_type: JWT_BEARER_GRANT, assertion },
    });
    return this.cache('machine', result);
  }

  /** One request with its retries. Returns the last answer (any status) or throws `Unreachable`. */
  private async send(method: string, url: string, body: unknown, headers: Record<string, string>, idempotent = false): Promise<Response> {
    const repeatable = idempotent || IDEMPOTENT_METHODS.has(method);
    const init: RequestInit = { method, headers: { ...headers } };
    if (this.options.userAgent) (init.headers as Record<string, string>)['user-agent'] = this.options.userAgent;
    if (body !== undefined) {
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const { attempts, baseDelayMs, maxDelayMs, maxRetryAfterSeconds } = this.retry;
    for (let attempt = 1; ; attempt += 1) {
      const last = attempt >= Math.max(1, attempts);
      const backoff = () => {
        const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
        return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
      };
      let response: Response;
      try {
        response = await this.fetchImpl(url, { ...init, signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000) });
      } catch (error) {
        const notSent = NOT_SENT_CODES.has(networkCode(error) ?? '');
        if (last || !(notSent || repeatable)) throw this.unreachable(error);
        await this.sleep(backoff());
        continue;
      }
      if (last) return response;
      if (response.status === 429) {
        const wait = retryAfterSeconds(response.headers.get('retry-after'), this.now());
        if (wait === undefined || wait > maxRetryAfterSeconds) return response;
        await response.body?.cancel().catch(() => undefined);
        await this.sleep(wait * 1000 + Math.round(this.random() * 250));
        continue;
      }
      if (response.status === 503 || (response.status >= 500 && repeatable)) {
        const wait = retryAfterSeconds(response.headers.get('retry-after'), this.now());
        if (wait !== undefined && wait > maxRetryAfterSeconds) return response;
        await response.body?.cancel().catch(() => undefined);
        await this.sleep(Math.max(backoff(), (wait ?? 0) * 1000));
        continue;
      }
      return response;
    }
  }

  private async read<T>(response: Response): Promise<T> {
    const text = await response.text().catch(() => '');
    const type = response.headers.get('content-type') ?? '';
    if (response.ok) {
      if (response.status === 204 || text === '') return undefined as T;
      if (!/json/i.test(type)) throw badResponse(this.serverUrl, `HTTP ${response.status} with ${type || 'no content type'}`);
      try {
        return JSON.parse(text) as T;
      } catch (error) {
        throw badResponse(this.serverUrl, 'a body that is not JSON', error);
      }
    }
    throw this.problem(response, text, type);
  }

  private problem(response: Response, text: string, type: string): CloudError {
    const headerWait = retryAfterSeconds(response.headers.get('retry-after'), this.now());
    let body: Partial<Problem> | undefined;
    if (/json/i.test(type)) {
      try {
        body = JSON.parse(text) as Partial<Problem>;
      } catch {
        body = undefined;
      }
    }
    if (body && isErrorCode(body.code)) {
      const retryAfter = headerWait ?? (typeof body.retryAfter === 'number' ? body.retryAfter : undefined);
      return new CloudError({
        status: response.status,
        code: body.code,
        detail: typeof body.detail === 'string' && body.detail ? body.detail : ERROR_TITLES[body.code],
        ...(retryAfter !== undefined ? { retryAfter } : {}),
        ...(Array.isArray(body.errors) ? { errors: body.errors } : {}),
      });
    }
    // Not one of our problem documents: a proxy, another server, or a newer server's new code.
    const status = response.status;
    const code: CloudErrorCode =
      body && typeof body.code === 'string' && status >= 400 && status < 600
        ? codeForStatus(status)
        : status === 429
          ? 'RateLimited'
          : status === 502 || status === 503 || status === 504
            ? 'ServiceUnavailable'
            : 'BadResponse';
    const detail =
      typeof body?.detail === 'string' && body.detail
        ? body.detail
        : code === 'BadResponse'
          ? `The server at ${this.serverUrl} answered HTTP ${status}${response.statusText ? ` ${response.statusText}` : ''}, not as a Machine Runtime server would; check the address.`
          : `The server at ${this.serverUrl} answered HTTP ${status}: ${ERROR_TITLES[code as ErrorCode]}.`;
    return new CloudError({ status, code, detail, ...(headerWait !== undefined ? { retryAfter: headerWait } : {}) });
  }

  private unreachable(error: unknown): CloudError {
    const code = networkCode(error);
    const why =
      code === 'TimeoutError'
        ? 'it did not answer in time'
        : code === 'ECONNREFUSED'
          ? 'the connection was refused'
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
            ? 'the host name was not found'
            : code
              ? `network error ${code}`
              : ((error as Error)?.message ?? 'network error');
    return new CloudError({ status: 0, code: 'Unreachable', detail: `The server ${this.serverUrl} cannot be reached (${why}).`, cause: error });
  }
}

const enc = encodeURIComponent;

function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return 'ValidationFailed';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 413:
      return 'PayloadTooLarge';
    case 415:
      return 'UnsupportedMediaType';
    case 429:
      return 'RateLimited';
    case 503:
      return 'ServiceUnavailable';
    default:
      return status >= 500 ? 'InternalError' : 'ValidationFailed';
  }
}

function badResponse(serverUrl: string, what: string, cause?: unknown): CloudError {
  return new CloudError({
    status: 0,
    code: 'BadResponse',
    detail: `The server at ${serverUrl} answered with ${what}, not as a Machine Runtime server would; check the address.`,
    cause,
  });
}

/** The errno-like code of a fetch failure (undici wraps it in `cause`, sometimes an AggregateError). */
function networkCode(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const { code, name, errors } = current as { code?: unknown; name?: unknown; errors?: unknown };
    if (name === 'TimeoutError' || name === 'AbortError') return 'TimeoutError';
    if (typeof code === 'string' && !code.startsWith('UND_ERR_')) return code;
    if (typeof code === 'string' && code === 'UND_ERR_CONNECT_TIMEOUT') return 'TimeoutError';
    if (Array.isArray(errors) && errors.length > 0) {
      const inner = networkCode(errors[0]);
      if (inner) return inner;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Retry-After as seconds: an integer, or an HTTP date. */
export function retryAfterSeconds(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

function safeExp(token: string): number | undefined {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' ? exp : undefined;
  } catch {
    return undefined;
  }
}
