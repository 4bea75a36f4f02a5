/**
 * The agent's side of the agent socket: connects to `/api/v1/agent` with the machine token,
 * says hello, heartbeats as the cloud asks (about every 10 s), and reconnects with jittered
 * exponential backoff when the socket drops. Stops for good when the cloud says the machine
 * was cloned. Plain Node (ws); used by the CLI's `agent`, the browser-mode host and Electron.
 */
import { EventEmitter } from 'node:events';
import os from 'node:os';
import WebSocket from 'ws';
import {
  AGENT_SOCKET_PATH,
  parseCloudMessage,
  type CloudMessage,
  type HelloMessage,
} from '../../protocol/agent-messages.ts';

export type AgentState =
  | { status: 'stopped' }
  | { status: 'connecting'; attempt: number }
  | { status: 'online'; since: Date }
  | { status: 'waiting'; retryAt: Date; reason: string }
  | { status: 'refused'; code: string; message: string };

export interface AgentConnectionOptions {
  serverUrl: string;
  /** A machine access token; `forceRefresh` after the cloud refused the last one. */
  getAccessToken(forceRefresh: boolean): Promise<string>;
  fingerprint: string;
  version: string;
  acceptsUnattended?: boolean;
  session?: () => HelloMessage['session'];
  /** Backoff between reconnects: full jitter over min·2^n, capped. */
  backoff?: { minMs: number; maxMs: number };
  /** Extra run ids for heartbeats (the run executor fills this in the runs issue). */
  runningRunIds?: () => string[];
  random?: () => number;
}

/** Codes after which reconnecting cannot help: the person must act (register anew). */
const FATAL_CODES = new Set(['MachineCloned']);

export class AgentConnection extends EventEmitter<{
  state: [AgentState];
  message: [CloudMessage];
}> {
  private socket: WebSocket | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private stopped = true;
  private forceRefresh = false;
  private current: AgentState = { status: 'stopped' };
  lastHeartbeatAt: Date | null = null;

  constructor(private readonly options: AgentConnectionOptions) {
    super();
  }

  get state(): AgentState {
    return this.current;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    void this.connect();
  }

  /** Closes the socket cleanly (SIGTERM/SIGINT); resolves once it is closed. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    const socket = this.socket;
    this.socket = undefined;
    if (socket && socket.readyState === WebSocket.OPEN) {
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.close(1000, 'agent stopping');
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
    } else {
      socket?.terminate();
    }
    this.setState({ status: 'stopped' });
  }

  /** Where heartbeats get the runs in progress (the run executor, created after the connection). */
  setRunningRunIds(source: () => string[]): void {
    this.options.runningRunIds = source;
  }

  /** Sends a message on the socket; false when not connected. */
  send(message: object): boolean {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  private setState(state: AgentState): void {
    this.current = state;
    this.emit('state', state);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.attempt += 1;
    this.setState({ status: 'connecting', attempt: this.attempt });
    let token: string;
    try {
      token = await this.options.getAccessToken(this.forceRefresh);
      this.forceRefresh = false;
    } catch (error) {
      // The cloud refuses to sign in a copied machine at all: that is as final as a refused socket.
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'string' && FATAL_CODES.has(code)) {
        this.stopped = true;
        this.setState({ status: 'refused', code, message: (error as Error).message });
        return;
      }
      this.scheduleRetry(`could not get a machine token: ${(error as Error).message}`);
      return;
    }
    if (this.stopped) return;
    const url = new URL(AGENT_SOCKET_PATH, this.options.serverUrl.replace(/^http/, 'ws'));
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, handshakeTimeout: 10_000 });
    this.socket = socket;
    let refusal: { code: string; message: string } | undefined;

    socket.on('unexpected-response', (_request, response) => {
      if (response.statusCode === 401) this.forceRefresh = true;
      refusal = { code: response.statusCode === 401 ? 'Unauthorized' : 'Forbidden', message: `HTTP ${response.statusCode}` };
      socket.terminate();
    });
    socket.on('open', () => {
      const hello: HelloMessage = {
        type: 'hello',
        version: this.options.version,
        os: `${os.platform()} ${os.release()}`.slice(0, 128),
        fingerprint: this.options.fingerprint,
        session: this.options.session?.() ?? { user: os.userInfo().username, locked: false },
        acceptsUnattended: this.options.acceptsUnattended ?? true,
      };
      socket.send(JSON.stringify(hello));
    });
    socket.on('message', (data) => {
      const message = parseCloudMessage(data.toString());
      if (!message) return;
      if (message.type === 'welcome') {
        this.attempt = 0;
        this.setState({ status: 'online', since: new Date() });
        this.startHeartbeat(message.heartbeatSeconds);
      } else if (message.type === 'error') {
        refusal = { code: message.code, message: message.message };
      }
      this.emit('message', message);
    });
    socket.on('error', () => undefined); // 'close' follows; the reason is reported there
    socket.on('close', () => {
      clearInterval(this.heartbeat);
      if (this.socket === socket) this.socket = undefined;
      if (this.stopped) return;
      if (refusal && FATAL_CODES.has(refusal.code)) {
        this.stopped = true;
        this.setState({ status: 'refused', ...refusal });
        return;
      }
      this.scheduleRetry(refusal ? `${refusal.code}: ${refusal.message}` : 'connection lost');
    });
  }

  private startHeartbeat(seconds: number): void {
    clearInterval(this.heartbeat);
    const beat = () => {
      // The session travels with each beat, so attended runs start once someone signs in or unlocks.
      const session = this.options.session?.();
      if (this.send({ type: 'heartbeat', runningRunIds: this.options.runningRunIds?.() ?? [], ...(session ? { session } : {}) })) {
        this.lastHeartbeatAt = new Date();
      }
    };
    beat();
    this.heartbeat = setInterval(beat, seconds * 1000);
  }

  private scheduleRetry(reason: string): void {
    if (this.stopped) return;
    const { minMs, maxMs } = this.options.backoff ?? { minMs: 500, maxMs: 30_000 };
    const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(this.attempt, 16));
    const delay = Math.max(minMs / 2, Math.floor((this.options.random ?? Math.random)() * ceiling));
    this.setState({ status: 'waiting', retryAt: new Date(Date.now() + delay), reason });
    this.retryTimer = setTimeout(() => void this.connect(), delay);
  }
}
