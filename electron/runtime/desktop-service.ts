/**
 * The desktop service: protocol/desktop-api.ts implemented on the runtime core, for one profile.
 * The Electron main process (through its IPC layer) and the browser-mode host (through its
 * WebSocket bridge) both dispatch the renderer's calls here, after validating them.
 *
 *  - It hosts the machine's agent (the socket to the cloud, with the run executor that runs the
 *    flows the cloud pushes) for as long as the machine is registered, and reports its state in
 *    `stateChanged`.
 *  - Secrets stay here: tokens live in the profile's secret store, group passwords are used for
 *    key derivation and dropped; no method returns a token or a key.
 *  - Every failure leaves as a `DesktopErrorEnvelope` `{ code, message }` with a stable code
 *    (the cloud's, the group crypto's, or a local one); unexpected ones are logged (never with
 *    the call's params, which may hold passwords) and answered `InternalError`.
 *  - It writes a log file in `<profile>/logs`, which Troubleshoot exports as a .tar.gz.
 *
 * Plain Node: no `electron` import (it runs in the browser-mode host and in tests as it is).
 */
import { promises as fs, createWriteStream, type WriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  isDesktopErrorCode,
  type DesktopDiagnostics,
  type DesktopEnvironment,
  type DesktopErrorCode,
  type DesktopErrorEnvelope,
  type DesktopGroup,
  type DesktopHandlers,
  type DesktopProgress,
  type DesktopState,
  type EventName,
  type EventPayload,
  type MethodName,
  type MethodParams,
  type MethodResult,
} from '../../protocol/desktop-api.ts';
import type { Me } from '../../protocol/cloud-api.ts';
import type { MachineGroup } from '../../protocol/api/groups.ts';
import type { CloudMessage } from '../../protocol/agent-messages.ts';
import type { AgentState } from './agent-connection.ts';
import { CloudClient, CloudError, normalizeServerUrl } from './cloud-client.ts';
import { GroupCryptoError } from './group-crypto.ts';
import { createMachineAgent, type MachineAgent } from './machine-agent.ts';
import { RunNames, groupRuns, machineRuns, runEvents, toDesktopRun, toGroupMachine } from './desktop-runs.ts';
import { changeGroupPassword, joinGroup, leaveGroup, type MembershipPhase } from './membership.ts';
import { RuntimeProfile, type OpenProfileOptions } from './profile.ts';
import type { RunExecutorEvent } from './run-executor.ts';
import { SecretStoreError } from './secret-store.ts';
import { SettingsError } from './settings.ts';
import { RUNTIME_VERSION } from './version.ts';

// ───────────────────────────── the interface hosts dispatch to ─────────────────────────────

export type DesktopEventListener = <E extends EventName>(event: E, payload: EventPayload<E>) => void;

/**
 * What a host (Electron main, browser mode) dispatches the renderer's calls to. Handlers receive
 * params already validated (protocol/desktop-api.ts `validateParams`); failures are thrown as
 * `{ code, message }` envelopes.
 */
export interface DesktopService extends DesktopHandlers {
  /** Delivers `stateChanged` and `progress`; returns the function that removes this listener. */
  subscribe(listener: DesktopEventListener): () => void;
  /** Stops the agent and releases resources; called when the app quits. */
  dispose(): Promise<void>;
}

export interface DesktopServiceOptions {
  /** The profile folder (default: MACHINE_RUNTIME_HOME, else the user's data folder). */
  profileDir?: string;
  /** Passed to the profile: secret store preference, Electron's settings, env… */
  profile?: Omit<OpenProfileOptions, 'profileDir'>;
  /** An already opened profile (tests); `profileDir` and `profile` are then ignored. */
  openedProfile?: RuntimeProfile;
  /** The Electron app's version (default: the runtime's). */
  appVersion?: string;
  hostName?: string;
  /** Offered on the sign-in screen while the profile knows no server (npm start's embedded cloud). */
  defaultServerUrl?: string;
  /** Where exportLogs writes its archive (default `<profile>/exports`). */
  exportDir?: string;
  /** Agent reconnect backoff (tests shorten it). */
  agentBackoff?: { minMs: number; maxMs: number };
  /** How often the state is re-read to notice heartbeats (default 5 s). */
  statePollMs?: number;
  /** Also write log lines here (e.g. the host's stderr). */
  echoLog?: (line: string) => void;
}

/** The log file's folder inside a profile. */
export const LOG_DIR_NAME = 'logs';
export const LOG_FILE_NAME = 'machine-runtime.log';
const LOG_ROTATE_BYTES = 5 * 1024 * 1024;

/** Environment roles whose privileges include creating groups and registering machines (cloud/src/policy/permissions.ts). */

const PHASE_PROGRESS: Record<MembershipPhase, { message: string; fraction: number }> = {
  fetching: { message: 'Fetching the group key…', fraction: 0.1 },
  'deriving-key': { message: 'Deriving the group key from the password…', fraction: 0.3 },
  proving: { message: 'Proving membership to the cloud…', fraction: 0.8 },
};

/** A thrown envelope (plain object: it must survive structured clone and JSON). */
function fail(code: DesktopErrorCode, message: string, retryAfter?: number): DesktopErrorEnvelope {
  return retryAfter === undefined ? { code, message } : { code, message, retryAfter };
}

/** Anything thrown by the runtime core → an envelope, or null when it is unexpected. */
export function envelopeFor(error: unknown): DesktopErrorEnvelope | null {
  if (error instanceof CloudError) {
    // BadResponse: something answered that is not a Machine Runtime server.
    const code: DesktopErrorCode = error.code === 'BadResponse' ? 'Unreachable' : error.code;
    return fail(code, error.detail || error.message, error.retryAfter);
  }
  if (error instanceof GroupCryptoError) {
    if (error.code === 'IncorrectGroupPassword') return fail('IncorrectGroupPassword', 'The group password is incorrect.');
    if (error.code === 'ValidationFailed') return fail('ValidationFailed', error.message);
    return fail('InternalError', `The group key held by the cloud cannot be read: ${error.message}`);
  }
  if (error instanceof SecretStoreError || error instanceof SettingsError) return fail('ServiceUnavailable', error.message);
  if (error instanceof TypeError && /server address/i.test(error.message)) return fail('ValidationFailed', error.message);
  if (error && typeof error === 'object' && !(error instanceof Error)) {
    const e = error as { code?: unknown; message?: unknown; retryAfter?: unknown };
    if (isDesktopErrorCode(e.code) && typeof e.message === 'string') {
      return fail(e.code, e.message, typeof e.retryAfter === 'number' ? e.retryAfter : undefined);
    }
  }
  return null;
}

// ───────────────────────────── logs ─────────────────────────────

class LogFile {
  private stream: WriteStream | null = null;
  private size = 0;
  constructor(
    readonly dir: string,
    private readonly echo?: (line: string) => void,
  ) {}

  async open(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, LOG_FILE_NAME);
    this.size = await fs.stat(file).then((s) => s.size, () => 0);
    this.stream = createWriteStream(file, { flags: 'a', mode: 0o600 });
    this.stream.on('error', () => {
      this.stream = null;
    });
  }

  write(level: 'info' | 'warn' | 'error', message: string): void {
    const line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}\n`;
    this.echo?.(line.trimEnd());
    if (!this.stream) return;
    this.stream.write(line);
    this.size += Buffer.byteLength(line);
    if (this.size > LOG_ROTATE_BYTES) void this.rotate();
  }

  private async rotate(): Promise<void> {
    const old = this.stream;
    this.stream = null;
    await new Promise<void>((resolve) => (old ? old.end(resolve) : resolve()));
    const file = path.join(this.dir, LOG_FILE_NAME);
    await fs.rename(file, `${file}.1`).catch(() => undefined);
    await this.open().catch(() => undefined);
  }

  async close(): Promise<void> {
    const stream = this.stream;
    this.stream = null;
    if (stream) await new Promise<void>((resolve) => stream.end(resolve));
  }
}

/** A ustar archive of the regular files of `dir` (names relative to `prefix/`), gzipped. */
export async function tarGzFolder(dir: string, prefix: string): Promise<Buffer> {
  const blocks: Buffer[] = [];
  const entries = (await fs.readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const file = path.join(dir, entry.name);
    const [content, stat] = await Promise.all([fs.readFile(file), fs.stat(file)]);
    blocks.push(tarHeader(`${prefix}/${entry.name}`, content.length, stat.mtime), content);
    const pad = (512 - (content.length % 512)) % 512;
    if (pad) blocks.push(Buffer.alloc(pad));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

function tarHeader(name: string, size: number, mtime: Date): Buffer {
  const header = Buffer.alloc(512);
  const put = (value: string, offset: number, length: number) => header.write(value, offset, length, 'utf8');
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0');
  if (Buffer.byteLength(name) > 100) name = name.slice(-100);
  put(name, 0, 100);
  put(octal(0o600, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(Math.floor(mtime.getTime() / 1000), 12), 136, 12);
  header.fill(' ', 148, 156); // checksum field counts as spaces
  put('0', 156, 1);
  put('ustar\u000000', 257, 8);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(`${octal(sum, 7)}\u0000`, 148, 8);
  return header;
}

// ───────────────────────────── the service ─────────────────────────────

/** The service, plus a way for its host to write to the same log file. */
export type HostedDesktopService = DesktopService & { writeLog(level: 'info' | 'warn' | 'error', message: string): void };

export async function createDesktopService(options: DesktopServiceOptions = {}): Promise<HostedDesktopService> {
  const profile = options.openedProfile ?? (await RuntimeProfile.open({ ...options.profile, ...(options.profileDir ? { profileDir: options.profileDir } : {}) }));
  const service = new RuntimeDesktopService(profile, options);
  await service.start();
  return service;
}

/** Serialises the operations that change this machine (register, join, leave…). */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

class RuntimeDesktopService implements DesktopService {
  private readonly listeners = new Set<DesktopEventListener>();
  private readonly log: LogFile;
  private readonly machineLock = new Mutex();
  private agent: MachineAgent | null = null;
  private detachAgent: (() => void) | null = null;
  private agentServer: string | null = null;
  private me: Me | null = null;
  private welcomeSkewMs: number | null = null;
  private cloudCloneFlag = false;
  private lastEmitted = '';
  private poll: NodeJS.Timeout | undefined;
  private disposed = false;
  private readonly runNames = new RunNames();

  constructor(
    private readonly profile: RuntimeProfile,
    private readonly options: DesktopServiceOptions,
  ) {
    this.log = new LogFile(path.join(profile.dir, LOG_DIR_NAME), options.echoLog);
  }

  async start(): Promise<void> {
    await this.log.open();
    const local = await this.profile.localStatus();
    this.log.write(
      'info',
      `Machine Runtime ${RUNTIME_VERSION} started; profile ${this.profile.dir}; secrets in ${local.secretStore.kind}; ` +
        `server ${local.serverUrl ?? this.options.defaultServerUrl ?? 'none'}; machine ${local.machine ? local.machine.id : 'not registered'}`,
    );
    await this.syncAgent();
    this.poll = setInterval(() => void this.emitState(), this.options.statePollMs ?? 5000);
    this.poll.unref();
    void this.refreshFromCloud();
  }

  writeLog(level: 'info' | 'warn' | 'error', message: string): void {
    this.log.write(level, message);
  }

  // ── events ──

  subscribe(listener: DesktopEventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    for (const listener of this.listeners) {
      try {
        listener(event, payload);
      } catch (error) {
        this.log.write('error', `event listener failed: ${(error as Error).message}`);
      }
    }
  }

  private progress(progress: DesktopProgress): void {
    this.emit('progress', progress);
  }

  /** Emits `stateChanged` when what the screens show has changed; returns the state. */
  private async emitState(): Promise<DesktopState> {
    const state = await this.state();
    const json = JSON.stringify(state);
    if (json !== this.lastEmitted && !this.disposed) {
      this.lastEmitted = json;
      this.emit('stateChanged', state);
    }
    return state;
  }

  // ── state ──

  private serverUrl(): string | null {
    return this.profile.settings.get('serverUrl') ?? this.options.defaultServerUrl ?? null;
  }

  private async cloud(): Promise<CloudClient> {
    const serverUrl = this.serverUrl();
    if (!serverUrl) throw fail('NotSignedIn', 'No server is configured yet: sign in with a server address first.');
    return this.profile.cloud(serverUrl);
  }

  private async state(): Promise<DesktopState> {
    const local = await this.profile.localStatus();
    const s = this.profile.settings.all();
    const user =
      local.signedIn && local.user
        ? {
            id: local.user.id ?? this.me?.id ?? '',
            email: local.user.email,
            displayName: local.user.displayName ?? this.me?.displayName ?? local.user.email,
            mayCreateGroup: this.me ? this.me.environments.some((e) => e.mayCreateGroups) : true,
          }
        : null;
    const environmentName = (id: string) => this.me?.environments.find((e) => e.id === id)?.name ?? 'Default environment';
    const machine = local.machine
      ? {
          id: local.machine.id,
          name: local.machine.name ?? '',
          description: s.machineDescription ?? '',
          environmentId: local.machine.environmentId ?? '',
          environmentName: local.machine.environmentId ? environmentName(local.machine.environmentId) : '',
        }
      : null;
    return {
      appVersion: this.options.appVersion ?? RUNTIME_VERSION,
      runtimeVersion: RUNTIME_VERSION,
      secretStore: local.secretStore.kind,
      serverUrl: local.serverUrl ?? this.options.defaultServerUrl ?? null,
      hostName: (this.options.hostName ?? os.hostname()).slice(0, 100),
      user,
      machine,
      group: local.group ? { id: local.group.id, name: local.group.name ?? local.group.id } : null,
      connection: machine ? connectionOf(this.agent?.state) : 'NotRegistered',
      lastHeartbeatAt: machine ? (this.agent?.lastHeartbeatAt?.toISOString() ?? null) : null,
      cloneWarning: machine ? this.cloneWarning(local.machine?.fingerprintMatches ?? null) : null,
    };
  }

  private cloneWarning(fingerprintMatches: boolean | null): DesktopState['cloneWarning'] {
    const state = this.agent?.state;
    if (state?.status === 'refused' && (state.code === 'MachineCloned' || state.code === 'SessionConflict')) {
      return { code: state.code, message: cloneMessage(state.code) };
    }
    if (state?.status === 'waiting' && state.reason.startsWith('SessionConflict')) {
      return { code: 'SessionConflict', message: cloneMessage('SessionConflict') };
    }
    if (fingerprintMatches === false || this.cloudCloneFlag) return { code: 'MachineCloned', message: cloneMessage('MachineCloned') };
    return null;
  }

  /** Asks the cloud who the user is and what it knows of this machine; emits what changed. */
  private async refreshFromCloud(): Promise<void> {
    if (this.disposed || !this.serverUrl()) return;
    try {
      const cloud = await this.cloud();
      if (await cloud.hasUserSession()) {
        try {
          this.me = await cloud.me();
        } catch (error) {
          await this.afterUserFailure(error);
        }
      }
      const machineId = this.profile.settings.get('machineId');
      if (machineId) {
        const remote = await cloud.getMachine(machineId, 'machine');
        this.cloudCloneFlag = remote.cloneSuspected;
        const localGroup = this.profile.settings.get('groupId') ?? null;
        if (remote.groupId !== localGroup) {
          if (remote.groupId === null) {
            this.log.write('info', `the cloud says this machine is no longer in group ${localGroup}`);
            await this.profile.setGroup(null);
          } else {
            const group = (await cloud.listGroups({}, 'machine')).find((g) => g.id === remote.groupId);
            await this.profile.setGroup({ id: remote.groupId, ...(group ? { name: group.name } : {}) });
          }
        }
      }
    } catch (error) {
      const envelope = envelopeFor(error);
      this.log.write('warn', `could not refresh from the cloud: ${envelope ? `${envelope.code}: ${envelope.message}` : (error as Error).message}`);
    }
    await this.emitState();
  }

  /** A user call failed: when the session is gone (refresh token refused), show the sign-in screen. */
  private async afterUserFailure(error: unknown): Promise<void> {
    const code = (error as { code?: unknown } | null)?.code;
    if (code !== 'Unauthorized' && code !== 'NotSignedIn') return;
    const serverUrl = this.profile.settings.get('serverUrl');
    if (!serverUrl) return;
    const cloud = await this.profile.cloud(serverUrl);
    if (!(await cloud.hasUserSession())) {
      this.log.write('info', 'the sign-in is no longer valid; signed out');
      this.me = null;
      this.profile.settings.update({ userId: undefined, userEmail: undefined, userDisplayName: undefined });
      await this.emitState();
    }
  }

  // ── the agent ──

  /** Runs the agent while the machine is registered (against the current server). */
  private async syncAgent(): Promise<void> {
    const serverUrl = this.profile.settings.get('serverUrl') ?? null;
    const wanted = this.profile.isRegistered() && serverUrl !== null && !this.disposed;
    if (this.agent && (!wanted || this.agentServer !== serverUrl)) await this.stopAgent();
    if (!wanted || this.agent) return;
    const cloud = await this.profile.cloud(serverUrl);
    const agent = await createMachineAgent(this.profile, cloud, this.options.agentBackoff ? { backoff: this.options.agentBackoff } : {});
    this.agent = agent;
    this.agentServer = serverUrl;
    this.cloudCloneFlag = false;
    let lastStatus = '';
    const onState = (state: AgentState) => {
      if (this.agent !== agent) return;
      const line = describeAgentState(state);
      if (line !== lastStatus) this.log.write(state.status === 'refused' ? 'warn' : 'info', `agent: ${line}`);
      lastStatus = line;
      void this.emitState();
    };
    const onMessage = (message: CloudMessage) => {
      if (this.agent !== agent || message.type !== 'welcome') return;
      const serverTime = Date.parse(message.serverTime);
      if (!Number.isNaN(serverTime)) this.welcomeSkewMs = Date.now() - serverTime;
      void this.refreshFromCloud();
    };
    const onRun = (event: RunExecutorEvent) => {
      this.log.write('info', `run ${event.runId}: ${event.type}${'status' in event ? ` (${event.status})` : 'code' in event ? ` (${event.code})` : ''}`);
    };
    agent.on('state', onState);
    agent.on('message', onMessage);
    agent.executor.on('event', onRun);
    this.detachAgent = () => {
      agent.off('state', onState);
      agent.off('message', onMessage);
      agent.executor.off('event', onRun);
    };
    agent.start();
  }

  private async stopAgent(): Promise<void> {
    const agent = this.agent;
    const detach = this.detachAgent;
    this.agent = null;
    this.agentServer = null;
    this.detachAgent = null;
    if (agent) {
      // Stopping ends a running flow first (the executor reports it); our listeners go last.
      await agent.stop();
      detach?.();
    }
  }

  // ── plumbing for each method ──

  /** Runs a handler; every failure leaves as an envelope. */
  private async guard<T>(method: MethodName, fn: () => Promise<T>, userCall = true): Promise<T> {
    if (this.disposed) throw fail('ServiceUnavailable', 'Machine Runtime is shutting down.');
    try {
      return await fn();
    } catch (error) {
      const envelope = envelopeFor(error);
      if (!envelope) {
        this.log.write('error', `${method} failed unexpectedly: ${(error as Error)?.stack ?? String(error)}`);
        throw fail('InternalError', 'Something went wrong in Machine Runtime.');
      }
      this.log.write(envelope.code === 'InternalError' ? 'error' : 'info', `${method}: ${envelope.code}: ${envelope.message}`);
      if (userCall) await this.afterUserFailure(envelope).catch(() => undefined);
      throw envelope;
    }
  }

  private requireRegistered(): string {
    const machineId = this.profile.settings.get('machineId');
    if (!machineId) throw fail('NotRegistered', 'Register this machine first.');
    return machineId;
  }

  private async userCloud(): Promise<CloudClient> {
    const cloud = await this.cloud();
    if (!(await cloud.hasUserSession())) throw fail('NotSignedIn', 'Sign in first.');
    return cloud;
  }

  private toGroup(group: MachineGroup): DesktopGroup {
    return {
      id: group.id,
      name: group.name,
      description: group.description,
      machineCount: group.machineCount,
      runningCount: group.runningCount,
      queuedCount: group.queuedCount,
      access: group.access,
      owner: { id: group.owner.id, displayName: group.owner.displayName },
      hasPassword: group.hasPassword,
      maintenance: group.maintenance,
      allowedActions: group.allowedActions,
    };
  }

  private async afterSignIn(cloud: CloudClient): Promise<DesktopState> {
    this.me = await cloud.me();
    this.profile.rememberUser(this.me);
    this.log.write('info', `signed in to ${cloud.serverUrl} as ${this.me.email}`);
    await this.syncAgent();
    void this.refreshFromCloud();
    return this.emitState();
  }

  // ── the desktop API ──

  getState(_params: MethodParams<'getState'>): Promise<MethodResult<'getState'>> {
    return this.guard('getState', () => this.state(), false);
  }

  needsSetup(params: MethodParams<'needsSetup'>): Promise<MethodResult<'needsSetup'>> {
    return this.guard(
      'needsSetup',
      async () => {
        // A throwaway anonymous client: checking an address must not switch this profile's server.
        const probe = new CloudClient({ serverUrl: normalizeServerUrl(params.serverUrl), secrets: this.profile.secrets, retry: { attempts: 1 }, timeoutMs: 5000 });
        const { needsSetup } = await probe.setupStatus();
        return { needsSetup };
      },
      false,
    );
  }

  setupServer(params: MethodParams<'setupServer'>): Promise<MethodResult<'setupServer'>> {
    return this.guard(
      'setupServer',
      async () => {
        const cloud = await this.profile.cloud(params.serverUrl);
        const result = await cloud.setup({ email: params.email, password: params.password, displayName: params.displayName });
        this.profile.rememberUser(result.user);
        this.log.write('info', `set up ${cloud.serverUrl}: ${result.user.email} is its first administrator`);
        return this.afterSignIn(cloud);
      },
      false,
    );
  }

  signIn(params: MethodParams<'signIn'>): Promise<MethodResult<'signIn'>> {
    return this.guard(
      'signIn',
      async () => {
        const cloud = await this.profile.cloud(params.serverUrl);
        await cloud.signIn(params.email, params.password);
        return this.afterSignIn(cloud);
      },
      false,
    );
  }

  signOut(_params: MethodParams<'signOut'>): Promise<MethodResult<'signOut'>> {
    return this.guard(
      'signOut',
      async () => {
        const serverUrl = this.profile.settings.get('serverUrl');
        const { revokedOnServer } = await this.profile.signOut(serverUrl);
        this.me = null;
        this.log.write('info', revokedOnServer ? 'signed out' : 'signed out here (the server could not be told)');
        return this.emitState();
      },
      false,
    );
  }

  listEnvironments(_params: MethodParams<'listEnvironments'>): Promise<MethodResult<'listEnvironments'>> {
    return this.guard('listEnvironments', async () => {
      const cloud = await this.userCloud();
      const environments = await cloud.listEnvironments();
      return environments.map(
        (e): DesktopEnvironment => ({
          id: e.id,
          name: e.name,
          isDefault: e.isDefault,
          mayRegister: e.mayRegisterMachines,
        }),
      );
    });
  }

  registerMachine(params: MethodParams<'registerMachine'>): Promise<MethodResult<'registerMachine'>> {
    return this.guard('registerMachine', () =>
      this.machineLock.run(async () => {
        if (this.profile.isRegistered()) {
          throw fail('ValidationFailed', 'This machine is already registered; register it again as a new machine instead.');
        }
        return this.register(params);
      }),
    );
  }

  reRegisterMachine(params: MethodParams<'reRegisterMachine'>): Promise<MethodResult<'reRegisterMachine'>> {
    return this.guard('reRegisterMachine', () => this.machineLock.run(() => this.register(params)));
  }

  private async register(params: MethodParams<'registerMachine'>): Promise<DesktopState> {
    const cloud = await this.userCloud();
    const previous = this.profile.settings.get('machineId');
    await this.stopAgent();
    try {
      const machine = await this.profile.registerMachine(cloud, {
        name: params.name,
        ...(params.description !== undefined ? { description: params.description } : {}),
        ...(params.environmentId !== undefined ? { environmentId: params.environmentId } : {}),
        runtimeVersion: RUNTIME_VERSION,
      });
      this.welcomeSkewMs = null;
      this.log.write('info', `registered this machine as "${machine.name}" (${machine.id})${previous ? `, replacing ${previous}` : ''}`);
    } finally {
      await this.syncAgent();
    }
    return this.emitState();
  }

  updateMachine(params: MethodParams<'updateMachine'>): Promise<MethodResult<'updateMachine'>> {
    return this.guard('updateMachine', async () => {
      const machineId = this.requireRegistered();
      const cloud = await this.userCloud();
      const machine = await cloud.updateMachine(machineId, { name: params.name, description: params.description });
      this.profile.settings.update({ machineName: machine.name, machineDescription: machine.description || undefined });
      return this.emitState();
    });
  }

  listGroups(_params: MethodParams<'listGroups'>): Promise<MethodResult<'listGroups'>> {
    return this.guard('listGroups', async () => {
      const cloud = await this.userCloud();
      const groups = (await cloud.listGroups()).map((g) => this.toGroup(g));
      // The current group first (marked by the state's `group`), then by name.
      const current = this.profile.settings.get('groupId');
      const currentGroup = groups.find((g) => g.id === current);
      if (currentGroup && currentGroup.name !== this.profile.settings.get('groupName')) {
        this.profile.settings.set('groupName', currentGroup.name);
        void this.emitState();
      }
      return groups.sort((a, b) => Number(b.id === current) - Number(a.id === current) || a.name.localeCompare(b.name));
    });
  }

  createGroup(params: MethodParams<'createGroup'>): Promise<MethodResult<'createGroup'>> {
    return this.guard('createGroup', async () => {
      const cloud = await this.userCloud();
      const environmentId = this.profile.settings.get('environmentId');
      const group = await cloud.createGroup({
        name: params.name,
        ...(params.description !== undefined ? { description: params.description } : {}),
        ...(environmentId && this.profile.isRegistered() ? { environmentId } : {}),
      });
      this.log.write('info', `created group "${group.name}" (${group.id})`);
      return this.toGroup(group);
    });
  }

  joinGroup(params: MethodParams<'joinGroup'>): Promise<MethodResult<'joinGroup'>> {
    return this.guard('joinGroup', () =>
      this.machineLock.run(async () => {
        this.requireRegistered();
        const cloud = await this.userCloud();
        const group = await cloud.getGroup(params.groupId);
        try {
          const result = await joinGroup(this.profile, cloud, { id: group.id, name: group.name }, params.password, {
            onProgress: (phase) => this.progress({ operation: 'joinGroup', ...PHASE_PROGRESS[phase] }),
          });
          this.log.write(
            'info',
            `${result.movedFrom ? `moved this machine from "${result.movedFrom.name}" to` : 'added this machine to'} "${group.name}"` +
              `${result.setPassword ? ' (set the group password)' : ''}; key derivation ${Math.round(result.timings.keyDerivationMs)} ms`,
          );
        } finally {
          this.progress({ operation: 'joinGroup', message: 'Done', fraction: 1, done: true });
        }
        return this.emitState();
      }),
    );
  }

  leaveGroup(_params: MethodParams<'leaveGroup'>): Promise<MethodResult<'leaveGroup'>> {
    return this.guard('leaveGroup', () =>
      this.machineLock.run(async () => {
        this.requireRegistered();
        const groupName = this.profile.settings.get('groupName');
        const { groupId } = await leaveGroup(this.profile, await this.cloud());
        this.log.write('info', `this machine left "${groupName ?? groupId}"`);
        return this.emitState();
      }),
    );
  }

  changeGroupPassword(params: MethodParams<'changeGroupPassword'>): Promise<MethodResult<'changeGroupPassword'>> {
    return this.guard('changeGroupPassword', () =>
      this.machineLock.run(async () => {
        this.requireRegistered();
        try {
          await changeGroupPassword(this.profile, await this.cloud(), params.groupId, params.newPassword, {
            onProgress: (phase) => this.progress({ operation: 'changeGroupPassword', ...PHASE_PROGRESS[phase] }),
          });
        } finally {
          this.progress({ operation: 'changeGroupPassword', message: 'Done', fraction: 1, done: true });
        }
        this.log.write('info', `changed the password of group ${params.groupId}`);
        return { ok: true as const };
      }),
    );
  }

  editGroup(params: MethodParams<'editGroup'>): Promise<MethodResult<'editGroup'>> {
    return this.guard('editGroup', async () => {
      const cloud = await this.userCloud();
      const group = await cloud.updateGroup(params.groupId, { name: params.name, description: params.description });
      if (this.profile.settings.get('groupId') === group.id) {
        this.profile.settings.set('groupName', group.name);
        void this.emitState();
      }
      return this.toGroup(group);
    });
  }

  deleteGroup(params: MethodParams<'deleteGroup'>): Promise<MethodResult<'deleteGroup'>> {
    return this.guard('deleteGroup', async () => {
      const cloud = await this.userCloud();
      await cloud.deleteGroup(params.groupId);
      this.log.write('info', `deleted group ${params.groupId}`);
      return { ok: true as const };
    });
  }

  listGroupMachines(params: MethodParams<'listGroupMachines'>): Promise<MethodResult<'listGroupMachines'>> {
    return this.guard('listGroupMachines', async () => {
      const cloud = await this.userCloud();
      const self = this.profile.settings.get('machineId');
      const machines = await cloud.listGroupMachines(params.groupId);
      return machines.map((m) => toGroupMachine(m, self));
    });
  }

  removeGroupMachine(params: MethodParams<'removeGroupMachine'>): Promise<MethodResult<'removeGroupMachine'>> {
    return this.guard('removeGroupMachine', async () => {
      const cloud = await this.userCloud();
      await cloud.removeGroupMachine(params.groupId, params.machineId);
      if (params.machineId === this.profile.settings.get('machineId')) {
        await this.profile.setGroup(null);
        await this.emitState();
      }
      return { ok: true as const };
    });
  }

  getGroupAccess(params: MethodParams<'getGroupAccess'>): Promise<MethodResult<'getGroupAccess'>> {
    return this.guard('getGroupAccess', async () => (await this.userCloud()).listGroupAccess(params.groupId));
  }

  searchUsers(params: MethodParams<'searchUsers'>): Promise<MethodResult<'searchUsers'>> {
    return this.guard('searchUsers', async () => {
      const query = params.query.trim().slice(0, 100);
      if (!query) return [];
      const users = await (await this.userCloud()).listUsers(query);
      return users.map((u) => ({ id: u.id, email: u.email, displayName: u.displayName }));
    });
  }

  shareGroup(params: MethodParams<'shareGroup'>): Promise<MethodResult<'shareGroup'>> {
    return this.guard('shareGroup', async () => {
      const cloud = await this.userCloud();
      await cloud.shareGroup(params.groupId, params.userId, { access: params.access });
      this.log.write('info', `shared group ${params.groupId} with user ${params.userId} as ${params.access}`);
      return cloud.listGroupAccess(params.groupId);
    });
  }

  unshareGroup(params: MethodParams<'unshareGroup'>): Promise<MethodResult<'unshareGroup'>> {
    return this.guard('unshareGroup', async () => {
      const cloud = await this.userCloud();
      await cloud.unshareGroup(params.groupId, params.userId);
      this.log.write('info', `removed the access of user ${params.userId} to group ${params.groupId}`);
      return cloud.listGroupAccess(params.groupId);
    });
  }

  runDiagnostics(_params: MethodParams<'runDiagnostics'>): Promise<MethodResult<'runDiagnostics'>> {
    return this.guard(
      'runDiagnostics',
      async (): Promise<DesktopDiagnostics> => {
        const serverUrl = this.serverUrl();
        const checks: DesktopDiagnostics['checks'] = [];
        let clockSkewMs: number | null = null;
        if (!serverUrl) {
          checks.push({ id: 'cloud', name: 'Cloud reachable', ok: false, detail: 'No server is configured yet.' });
        } else {
          const url = `${normalizeServerUrl(serverUrl)}/api/v1/health`;
          const sent = Date.now();
          try {
            const response = await fetch(url, { signal: AbortSignal.timeout(5000), headers: { accept: 'application/json' } });
            const received = Date.now();
            const body = (await response.json().catch(() => null)) as { status?: unknown } | null;
            const ok = response.ok && body?.status === 'ok';
            checks.push({
              id: 'cloud',
              name: 'Cloud reachable',
              ok,
              detail: ok
                ? `${url} answered in ${received - sent} ms.`
                : `${url} answered HTTP ${response.status}${body ? '' : ' (not a Machine Runtime server?)'}.`,
            });
            const date = Date.parse(response.headers.get('date') ?? '');
            // The Date header has whole seconds: a skew under ~1 s cannot be told from rounding.
            if (!Number.isNaN(date)) clockSkewMs = Math.round((sent + received) / 2 - (date + 500));
          } catch (error) {
            checks.push({ id: 'cloud', name: 'Cloud reachable', ok: false, detail: `${url} cannot be reached (${describeFetchError(error)}).` });
          }
        }
        const agentState = this.agent?.state;
        checks.push(
          !this.profile.isRegistered()
            ? { id: 'socket', name: 'Agent connected', ok: false, detail: 'This machine is not registered, so it has no agent connection.' }
            : agentState?.status === 'online'
              ? { id: 'socket', name: 'Agent connected', ok: true, detail: `Online since ${agentState.since.toISOString()}; last heartbeat ${this.agent?.lastHeartbeatAt?.toISOString() ?? 'not yet'}.` }
              : { id: 'socket', name: 'Agent connected', ok: false, detail: `The agent is ${agentState ? describeAgentState(agentState) : 'not running'}.` },
        );
        if (this.welcomeSkewMs !== null && (clockSkewMs === null || Math.abs(clockSkewMs) < 1500)) clockSkewMs = this.welcomeSkewMs;
        const skewOk = clockSkewMs !== null && Math.abs(clockSkewMs) <= 60_000;
        checks.push({
          id: 'clock',
          name: 'Clock in sync',
          ok: skewOk,
          detail:
            clockSkewMs === null
              ? 'The server time could not be read.'
              : skewOk
                ? `This clock is within ${Math.max(1, Math.ceil(Math.abs(clockSkewMs) / 1000))} s of the server's.`
                : `This clock is ${Math.round(Math.abs(clockSkewMs) / 1000)} s ${clockSkewMs > 0 ? 'ahead of' : 'behind'} the server's; sign-in tokens may be refused. Set the time automatically.`,
        });
        const report = { checkedAt: new Date().toISOString(), serverUrl, checks, clockSkewMs };
        this.log.write('info', `diagnostics: ${checks.map((c) => `${c.id} ${c.ok ? 'ok' : 'FAILED'}`).join(', ')}`);
        return report;
      },
      false,
    );
  }

  getLogsLocation(_params: MethodParams<'getLogsLocation'>): Promise<MethodResult<'getLogsLocation'>> {
    return this.guard('getLogsLocation', async () => ({ path: this.log.dir }), false);
  }

  exportLogs(_params: MethodParams<'exportLogs'>): Promise<MethodResult<'exportLogs'>> {
    return this.guard(
      'exportLogs',
      async () => {
        this.log.write('info', 'exporting the logs');
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        const dir = this.options.exportDir ?? path.join(this.profile.dir, 'exports');
        await fs.mkdir(dir, { recursive: true, mode: 0o700 });
        const file = path.join(dir, `machine-runtime-logs-${stamp}.tar.gz`);
        await fs.writeFile(file, await tarGzFolder(this.log.dir, `machine-runtime-logs-${stamp}`), { mode: 0o600 });
        return { path: file };
      },
      false,
    );
  }

  // ── runs and maintenance (electron/runtime/desktop-runs.ts) ──

  listGroupRuns(params: MethodParams<'listGroupRuns'>): Promise<MethodResult<'listGroupRuns'>> {
    return this.guard('listGroupRuns', async () =>
      groupRuns(await this.userCloud(), this.runNames, params.groupId, this.runViewer()),
    );
  }

  listMachineRuns(_params: MethodParams<'listMachineRuns'>): Promise<MethodResult<'listMachineRuns'>> {
    return this.guard('listMachineRuns', async () => {
      const machineId = this.requireRegistered();
      return machineRuns(await this.userCloud(), this.runNames, machineId);
    });
  }

  getRunLogs(params: MethodParams<'getRunLogs'>): Promise<MethodResult<'getRunLogs'>> {
    return this.guard('getRunLogs', async () => {
      const logs = await (await this.userCloud()).runLogs(params.runId, { ...(params.after !== undefined ? { after: params.after } : {}), limit: 5000 });
      return { runId: logs.runId, lines: logs.lines, truncated: logs.truncated };
    });
  }

  private runViewer(): { names: RunNames; thisMachineId: string | undefined } {
    return { names: this.runNames, thisMachineId: this.profile.settings.get('machineId') };
  }

  cancelRun(params: MethodParams<'cancelRun'>): Promise<MethodResult<'cancelRun'>> {
    return this.guard('cancelRun', async () => {
      const run = await (await this.userCloud()).cancelRun(params.runId);
      this.log.write('info', `asked to cancel run ${run.id} (now ${run.status})`);
      return toDesktopRun(run, this.runViewer());
    });
  }

  changeRunPriority(params: MethodParams<'changeRunPriority'>): Promise<MethodResult<'changeRunPriority'>> {
    return this.guard('changeRunPriority', async () => {
      const run = await (await this.userCloud()).changeRunPriority(params.runId, params.priority);
      this.log.write('info', `priority of run ${run.id} set to ${run.priority} (queue position ${run.queuePosition ?? '-'})`);
      return toDesktopRun(run, this.runViewer());
    });
  }

  moveRunToTop(params: MethodParams<'moveRunToTop'>): Promise<MethodResult<'moveRunToTop'>> {
    return this.guard('moveRunToTop', async () => {
      const run = await (await this.userCloud()).moveRunToTop(params.runId);
      this.log.write('info', `run ${run.id} moved to the top of its queue`);
      return toDesktopRun(run, this.runViewer());
    });
  }

  getRunEvents(params: MethodParams<'getRunEvents'>): Promise<MethodResult<'getRunEvents'>> {
    return this.guard('getRunEvents', async () => runEvents(await this.userCloud(), params.runId));
  }

  setGroupMaintenance(params: MethodParams<'setGroupMaintenance'>): Promise<MethodResult<'setGroupMaintenance'>> {
    return this.guard('setGroupMaintenance', async () => {
      const group = await (await this.userCloud()).updateGroup(params.groupId, { maintenance: params.maintenance });
      this.log.write('info', `maintenance mode ${group.maintenance ? 'on' : 'off'} for group "${group.name}" (${group.id})`);
      return this.toGroup(group);
    });
  }

  setMachineMaintenance(params: MethodParams<'setMachineMaintenance'>): Promise<MethodResult<'setMachineMaintenance'>> {
    return this.guard('setMachineMaintenance', async () => {
      const machine = await (await this.userCloud()).updateMachine(params.machineId, { maintenance: params.maintenance });
      this.log.write('info', `maintenance mode ${machine.maintenance ? 'on' : 'off'} for machine "${machine.name}" (${machine.id})`);
      return toGroupMachine(machine, this.profile.settings.get('machineId'));
    });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    clearInterval(this.poll);
    await this.stopAgent();
    this.disposed = true;
    this.listeners.clear();
    this.log.write('info', 'Machine Runtime stopped');
    await this.log.close();
  }
}

function connectionOf(state: AgentState | undefined): DesktopState['connection'] {
  switch (state?.status) {
    case 'online':
      return 'Online';
    case 'connecting':
      return 'Connecting';
    default:
      return 'Offline';
  }
}

function describeAgentState(state: AgentState): string {
  switch (state.status) {
    case 'online':
      return 'online';
    case 'connecting':
      return 'connecting';
    case 'waiting':
      return `disconnected (${state.reason}), retrying`;
    case 'refused':
      return `refused by the cloud (${state.code}: ${state.message})`;
    default:
      return 'stopped';
  }
}

function cloneMessage(code: 'MachineCloned' | 'SessionConflict'): string {
  return code === 'MachineCloned'
    ? 'The cloud refused this machine: its identity was registered on another computer.'
    : 'Another copy of this machine is connected to the cloud right now.';
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string } })?.cause?.code;
  if ((error as Error)?.name === 'TimeoutError') return 'no answer within 5 s';
  return cause ?? (error as Error)?.message ?? 'network error';
}
