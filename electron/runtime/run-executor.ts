/**
 * The agent's run executor: takes assignments from the agent socket, opens the connection's
 * credentials with the key this machine holds, and runs the desktop flow in a child process.
 *
 * The handshake (protocol/agent-messages.ts) keeps a run from starting twice: the executor
 * answers `accepted` and starts the flow only when the cloud acknowledges it; a run the cloud
 * requeued meanwhile is answered with `cancel` instead.
 *
 * A flow runs in its own temporary folder and process group:
 *   - node:  `process.execPath flow.mjs`;  shell: `/bin/sh -c script`;
 *   - inputs: JSON on standard input; credentials: MR_USERNAME / MR_PASSWORD;
 *   - outputs: JSON written to the file named by MR_OUTPUTS_FILE, else the last stdout line
 *     when it is JSON;
 *   - exit code 0 → Succeeded, anything else → Failed (FlowFailed);
 *   - cancel or time limit: SIGTERM to the whole process group, SIGKILL after the grace period.
 * Log lines (stdout/stderr, with the password masked) are streamed to the cloud in batches and
 * bounded while the socket is down; the final report is re-sent after reconnects until the
 * cloud acknowledges it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import {
  MAX_LOG_LINES_PER_MESSAGE,
  type AssignMessage,
  type CloudMessage,
  type FinishedMessage,
  type FinishedStatus,
  type HelloMessage,
  type LogLine,
  type MachineMessage,
  type RejectCode,
} from '../../protocol/agent-messages.ts';
import { openSealed, SealedBoxError, type X25519KeyPair } from './sealed-box.ts';

/** Where the executor gets the key that opens a connection's credentials (injected: secret store, tests). */
export interface CredentialKeys {
  /** The X25519 key pair for this target, or null when this machine does not hold it. */
  keyPairFor(target: { type: 'MachineGroup' | 'Machine'; id: string }): Promise<X25519KeyPair | null>;
}

/** The part of AgentConnection the executor uses. */
export interface AgentLink {
  on(event: 'message', listener: (message: CloudMessage) => void): unknown;
  on(event: 'state', listener: (state: { status: string }) => void): unknown;
  off(event: 'message', listener: (message: CloudMessage) => void): unknown;
  off(event: 'state', listener: (state: { status: string }) => void): unknown;
  send(message: MachineMessage): boolean;
}

export interface RunExecutorOptions {
  link: AgentLink;
  keys: CredentialKeys;
  /** Must match what the agent says in hello. */
  acceptsUnattended?: boolean;
  session?: () => HelloMessage['session'];
  /** Parent folder of the runs' working folders (default: the OS temp folder). */
  workRoot?: string;
  /** How long to wait for the cloud's ack of `accepted` before dropping the assignment. */
  confirmTimeoutMs?: number;
  logFlushMs?: number;
  /** Log lines kept while they cannot be sent; older ones are dropped (and counted). */
  maxPendingLogLines?: number;
}

export type RunExecutorEvent =
  | { type: 'accepted'; runId: string }
  | { type: 'rejected'; runId: string; code: RejectCode }
  | { type: 'started'; runId: string; pid: number }
  | { type: 'finished'; runId: string; status: FinishedStatus };

interface ActiveRun {
  assign: AssignMessage;
  phase: 'accepting' | 'running' | 'stopping';
  username: string;
  password: string;
  confirmTimer?: NodeJS.Timeout;
  child?: ChildProcess;
  workDir?: string;
  stopReason?: 'Cancelled' | 'TimedOut' | 'AgentStopped';
  timeoutTimer?: NodeJS.Timeout;
  killTimer?: NodeJS.Timeout;
  logs: LogLine[];
  droppedLogLines: number;
  flushTimer?: NodeJS.Timeout;
  lastStdoutLine: string;
  lastStderrLine: string;
}

/** Runs stay small and tidy: outputs larger than this are refused. */
const MAX_OUTPUTS_BYTES = 256 * 1024;

export class RunExecutor extends EventEmitter<{ event: [RunExecutorEvent] }> {
  private current: ActiveRun | null = null;
  /** Final reports the cloud has not acknowledged yet. */
  private readonly unacknowledged = new Map<string, FinishedMessage>();
  private readonly onMessage = (message: CloudMessage) => this.handle(message);
  private readonly onState = (state: { status: string }) => {
    if (state.status === 'online') this.resend();
  };
  private stopped = false;

  constructor(private readonly options: RunExecutorOptions) {
    super();
  }

  start(): void {
    this.stopped = false;
    this.options.link.on('message', this.onMessage);
    this.options.link.on('state', this.onState);
  }

  /** Stops listening; a running flow is stopped (its tree killed) and reported. */
  async stop(): Promise<void> {
    this.stopped = true;
    const run = this.current;
    if (run?.phase === 'running' || run?.phase === 'stopping') {
      const done = new Promise<void>((resolve) => {
        const onEvent = (event: RunExecutorEvent) => {
          if (event.type !== 'finished' || event.runId !== run.assign.runId) return;
          this.off('event', onEvent);
          resolve();
        };
        this.on('event', onEvent);
      });
      this.stopRun(run, 'AgentStopped');
      await done;
    } else if (run) {
      this.clearRun(run);
    }
    this.options.link.off('message', this.onMessage);
    this.options.link.off('state', this.onState);
  }

  /** For heartbeats: the runs this machine has accepted and not finished. */
  runningRunIds(): string[] {
    return this.current ? [this.current.assign.runId] : [];
  }

  get busy(): boolean {
    return this.current !== null;
  }

  private emitEvent(event: RunExecutorEvent): void {
    this.emit('event', event);
  }

  private send(message: MachineMessage): boolean {
    return this.options.link.send(message);
  }

  private handle(message: CloudMessage): void {
    switch (message.type) {
      case 'assign':
        void this.onAssign(message);
        return;
      case 'ack': {
        if (message.of === 'finished') {
          const pending = this.unacknowledged.get(message.runId);
          if (pending?.attempt === message.attempt) this.unacknowledged.delete(message.runId);
          return;
        }
        const run = this.current;
        if (run && run.phase === 'accepting' && run.assign.runId === message.runId && run.assign.attempt === message.attempt) {
          clearTimeout(run.confirmTimer);
          void this.launch(run);
        }
        return;
      }
      case 'cancel': {
        const pending = this.unacknowledged.get(message.runId);
        if (pending && pending.attempt === message.attempt) this.unacknowledged.delete(message.runId);
        const run = this.current;
        if (!run || run.assign.runId !== message.runId || run.assign.attempt !== message.attempt) return;
        if (run.phase === 'accepting') {
          this.clearRun(run);
          return;
        }
        this.stopRun(run, message.reason === 'TimedOut' ? 'TimedOut' : 'Cancelled');
        return;
      }
      default:
        return;
    }
  }

  private reject(assign: AssignMessage, code: RejectCode, message: string): void {
    this.send({ type: 'rejected', runId: assign.runId, attempt: assign.attempt, code, message });
    this.emitEvent({ type: 'rejected', runId: assign.runId, code });
  }

  private async onAssign(assign: AssignMessage): Promise<void> {
    if (this.current) {
      const same = this.current.assign.runId === assign.runId && this.current.assign.attempt === assign.attempt;
      if (!same) this.reject(assign, 'Busy', 'This machine is already running a flow.');
      return;
    }
    if (this.stopped) return this.reject(assign, 'Stopping', 'The agent is stopping.');
    const session = this.options.session?.() ?? { user: os.userInfo().username, locked: false };
    if (assign.runMode === 'Attended' && (session.user === null || session.locked)) {
      return this.reject(assign, 'SessionUnavailable', 'An attended run needs a signed-in, unlocked session.');
    }
    if (assign.runMode === 'Unattended' && !(this.options.acceptsUnattended ?? true)) {
      return this.reject(assign, 'SessionUnavailable', 'This machine does not accept unattended runs.');
    }
    // Claim the slot before the first await, so a second assignment meanwhile is refused.
    const run: ActiveRun = { assign, phase: 'accepting', username: '', password: '', logs: [], droppedLogLines: 0, lastStdoutLine: '', lastStderrLine: '' };
    this.current = run;
    const { sealedCredentials } = assign;
    let password: string;
    try {
      const keys = await this.options.keys.keyPairFor({ type: sealedCredentials.targetType, id: sealedCredentials.targetId });
      if (!keys) throw new SealedBoxError('This machine does not hold the key for these credentials.');
      password = await openSealed(sealedCredentials.sealedPassword, keys);
    } catch (error) {
      this.current = null;
      return this.reject(assign, 'CredentialsUnavailable', error instanceof SealedBoxError ? error.message : 'The credentials could not be opened.');
    }
    run.username = sealedCredentials.username;
    run.password = password;
    run.confirmTimer = setTimeout(() => {
      // The cloud never confirmed: it will requeue the run; this machine must not start it.
      if (this.current === run && run.phase === 'accepting') this.clearRun(run);
    }, this.options.confirmTimeoutMs ?? 15_000);
    this.send({ type: 'accepted', runId: assign.runId, attempt: assign.attempt });
    this.emitEvent({ type: 'accepted', runId: assign.runId });
  }

  private clearRun(run: ActiveRun): void {
    clearTimeout(run.confirmTimer);
    clearTimeout(run.timeoutTimer);
    clearTimeout(run.killTimer);
    clearTimeout(run.flushTimer);
    run.password = '';
    if (this.current === run) this.current = null;
  }

  /** After reconnecting: say again what the cloud may have missed. */
  private resend(): void {
    const run = this.current;
    if (run?.phase === 'accepting') this.send({ type: 'accepted', runId: run.assign.runId, attempt: run.assign.attempt });
    if (run && run.phase !== 'accepting') this.flushLogs(run);
    for (const report of this.unacknowledged.values()) this.send(report);
  }

  private async launch(run: ActiveRun): Promise<void> {
    run.phase = 'running';
    const { assign } = run;
    let child: ChildProcess;
    try {
      run.workDir = await fs.mkdtemp(path.join(this.options.workRoot ?? os.tmpdir(), 'mr-run-'));
      const outputsFile = path.join(run.workDir, 'outputs.json');
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        MR_RUN_ID: assign.runId,
        MR_ATTEMPT: String(assign.attempt),
        MR_WORKDIR: run.workDir,
        MR_OUTPUTS_FILE: outputsFile,
        MR_USERNAME: run.username,
        MR_PASSWORD: run.password,
      };
      // The agent's own loader options (tsx under development) are not the flow's business.
      delete env.NODE_OPTIONS;
      let command: string;
      let args: string[];
      if (assign.flow.runtime === 'node') {
        const file = path.join(run.workDir, 'flow.mjs');
        await fs.writeFile(file, assign.flow.script, { mode: 0o600 });
        command = process.execPath;
        args = [file];
      } else {
        command = '/bin/sh';
        args = ['-c', assign.flow.script];
      }
      if (run.stopReason) throw new Error('stopped before it started');
      child = spawn(command, args, { cwd: run.workDir, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (error) {
      await this.report(run, 'Failed', null, { code: 'SpawnFailed', message: `The flow could not be started: ${(error as Error).message}` });
      return;
    }
    run.child = child;
    const spawned = await new Promise<boolean>((resolve) => {
      child.once('spawn', () => resolve(true));
      child.once('error', () => resolve(false));
    });
    if (!spawned) {
      await this.report(run, 'Failed', null, { code: 'SpawnFailed', message: `The ${assign.flow.runtime} runtime could not be started.` });
      return;
    }
    this.send({ type: 'started', runId: assign.runId, attempt: assign.attempt });
    this.emitEvent({ type: 'started', runId: assign.runId, pid: child.pid! });

    child.stdin!.on('error', () => undefined); // a flow that ignores its input closes stdin early
    child.stdin!.end(JSON.stringify(assign.inputs ?? {}));
    const stdout = readline.createInterface({ input: child.stdout!, crlfDelay: Infinity });
    const stderr = readline.createInterface({ input: child.stderr!, crlfDelay: Infinity });
    stdout.on('line', (line) => {
      if (line.trim()) run.lastStdoutLine = line;
      this.log(run, 'stdout', line);
    });
    stderr.on('line', (line) => {
      if (line.trim()) run.lastStderrLine = line;
      this.log(run, 'stderr', line);
    });
    run.timeoutTimer = setTimeout(() => this.stopRun(run, 'TimedOut'), assign.timeoutSeconds * 1000);
    run.timeoutTimer.unref();

    // 'exit' is the flow itself; anything it left behind in its process group goes with it.
    child.once('exit', () => killGroup(child, 'SIGKILL'));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('close', (c: number | null, s: NodeJS.Signals | null) => resolve([c, s])),
    );
    clearTimeout(run.timeoutTimer);
    clearTimeout(run.killTimer);

    if (run.stopReason) {
      const status: FinishedStatus = run.stopReason === 'TimedOut' ? 'TimedOut' : run.stopReason === 'Cancelled' ? 'Cancelled' : 'Failed';
      const message =
        run.stopReason === 'TimedOut'
          ? `The flow reached its time limit (${assign.timeoutSeconds} s) and was stopped.`
          : run.stopReason === 'Cancelled'
            ? 'The run was cancelled; the flow was stopped.'
            : 'The agent stopped; the flow was stopped.';
      await this.report(run, status, null, { code: run.stopReason === 'TimedOut' ? 'RunTimeout' : run.stopReason, message });
      return;
    }
    if (code === 0) {
      const outputs = await readOutputs(path.join(run.workDir!, 'outputs.json'), run.lastStdoutLine);
      if ('error' in outputs) await this.report(run, 'Failed', null, { code: 'InvalidOutputs', message: outputs.error });
      else await this.report(run, 'Succeeded', outputs.value, null);
      return;
    }
    const last = run.lastStderrLine ? `: ${this.redact(run, run.lastStderrLine).slice(0, 500)}` : '';
    await this.report(run, 'Failed', null, {
      code: 'FlowFailed',
      message: signal ? `The flow was killed by ${signal}${last}` : `The flow exited with code ${code}${last}`,
    });
  }

  /** Stops the flow's whole process tree: SIGTERM, then SIGKILL after the grace period. */
  private stopRun(run: ActiveRun, reason: 'Cancelled' | 'TimedOut' | 'AgentStopped'): void {
    if (run.stopReason) return;
    run.stopReason = reason;
    run.phase = 'stopping';
    const child = run.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    killGroup(child, 'SIGTERM');
    run.killTimer = setTimeout(() => killGroup(child, 'SIGKILL'), run.assign.graceSeconds * 1000);
  }

  private redact(run: ActiveRun, line: string): string {
    return run.password.length >= 3 ? line.split(run.password).join('********') : line;
  }

  private log(run: ActiveRun, stream: LogLine['stream'], line: string): void {
    run.logs.push({ at: new Date().toISOString(), stream, line: this.redact(run, line).slice(0, 8192) });
    const max = this.options.maxPendingLogLines ?? 2000;
    if (run.logs.length > max) {
      const excess = run.logs.length - max;
      run.logs.splice(0, excess);
      run.droppedLogLines += excess;
    }
    if (run.logs.length >= MAX_LOG_LINES_PER_MESSAGE) this.flushLogs(run);
    else run.flushTimer ??= setTimeout(() => this.flushLogs(run), this.options.logFlushMs ?? 200);
  }

  private flushLogs(run: ActiveRun): void {
    clearTimeout(run.flushTimer);
    run.flushTimer = undefined;
    const { runId, attempt } = run.assign;
    if (run.droppedLogLines > 0) {
      run.logs.unshift({ at: new Date().toISOString(), stream: 'system', line: `[${run.droppedLogLines} log lines dropped while the cloud was unreachable]` });
      run.droppedLogLines = 0;
    }
    while (run.logs.length > 0) {
      const batch = run.logs.slice(0, MAX_LOG_LINES_PER_MESSAGE);
      if (!this.send({ type: 'log', runId, attempt, lines: batch })) return; // kept for after the reconnect
      run.logs.splice(0, batch.length);
    }
  }

  private async report(run: ActiveRun, status: FinishedStatus, outputs: unknown, error: { code: string; message: string } | null): Promise<void> {
    this.flushLogs(run);
    const message: FinishedMessage = { type: 'finished', runId: run.assign.runId, attempt: run.assign.attempt, status, outputs, error };
    this.unacknowledged.set(run.assign.runId, message);
    // Free the slot before reporting: the cloud may push the next run the moment it reads this.
    this.clearRun(run);
    this.send(message);
    this.emitEvent({ type: 'finished', runId: run.assign.runId, status });
    if (run.workDir) await fs.rm(run.workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* the group is gone already */
  }
}

async function readOutputs(file: string, lastStdoutLine: string): Promise<{ value: unknown } | { error: string }> {
  let text: string | null = null;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    text = null;
  }
  if (text !== null && text.trim()) {
    if (Buffer.byteLength(text) > MAX_OUTPUTS_BYTES) return { error: `The outputs file is larger than ${MAX_OUTPUTS_BYTES / 1024} KiB.` };
    try {
      return { value: JSON.parse(text) };
    } catch {
      return { error: 'The outputs file (MR_OUTPUTS_FILE) is not valid JSON.' };
    }
  }
  const line = lastStdoutLine.trim();
  if (line.startsWith('{') || line.startsWith('[')) {
    try {
      if (Buffer.byteLength(line) <= MAX_OUTPUTS_BYTES) return { value: JSON.parse(line) };
    } catch {
      /* not JSON: no outputs */
    }
  }
  return { value: null };
}
