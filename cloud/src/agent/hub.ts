/**
 * The agent socket hub: one WebSocket per machine (`GET /api/v1/agent`, machine token).
 * - presence: `Online` within a moment of `hello`, `Offline` when the socket closes or about
 *   `offlineAfterSeconds` after the last heartbeat (the sweeper), `lastSeenAt` on every beat;
 * - clones: a machine key presented with another fingerprint is refused (`MachineCloned`) and
 *   the machine marked clone-suspected; a second live socket for one machine is refused
 *   (`SessionConflict`), while a reconnect that finds the old socket dead replaces it.
 * - runs: the run dispatcher (cloud/src/runs/dispatcher.ts) listens through `setListener` —
 *   a machine online (hello), its heartbeats, offline (its socket gone), and its run reports —
 *   and sends assignments and cancels through `send(machineId, message)`.
 */
import websocket from '@fastify/websocket';
import type { FastifyPluginAsync } from 'fastify';
import type { WebSocket } from 'ws';
import {
  AGENT_CLOSE,
  parseMachineMessage,
  type CloudMessage,
  type HeartbeatMessage,
  type HelloMessage,
  type RunReport,
} from '../../../protocol/agent-messages.ts';
import type { CloudContext } from '../context.ts';
import type { Database } from '../db/database.ts';
import type { CloudConfig } from '../config.ts';
import type { MachineCaller } from '../auth/authenticate.ts';
import { ApiError, problemBody } from '../http/problem.ts';
import { recordAudit } from '../audit/audit.ts';

interface LiveSocket {
  socket: WebSocket;
  fingerprint: string;
}

/** How long a ping may go unanswered before an old socket counts as dead. */
const LIVENESS_PROBE_MS = 1500;

/** What the hub tells the run dispatcher. Called in the order the socket delivered them. */
export interface AgentHubListener {
  /** A machine said hello (after it was registered as live and welcomed). */
  online(machineId: string, hello: HelloMessage): void;
  heartbeat(machineId: string, message: HeartbeatMessage): void;
  /** The machine's live socket closed (not when the server itself shuts down). */
  offline(machineId: string): void;
  report(machineId: string, message: RunReport): void;
}

export class AgentHub {
  private readonly live = new Map<string, LiveSocket>();
  private sweeper: NodeJS.Timeout | undefined;
  private listener: AgentHubListener | undefined;

  constructor(private readonly context: { db: Database; config: CloudConfig }) {}

  setListener(listener: AgentHubListener | undefined): void {
    this.listener = listener;
  }

  isConnected(machineId: string): boolean {
    return this.live.has(machineId);
  }

  /** The machines whose agents are connected to this instance. */
  liveMachineIds(): string[] {
    return [...this.live.keys()];
  }

  /** Sends a message to a machine connected to this instance; false when it is not here. */
  send(machineId: string, message: CloudMessage): boolean {
    const entry = this.live.get(machineId);
    if (!entry || entry.socket.readyState !== entry.socket.OPEN) return false;
    entry.socket.send(JSON.stringify(message));
    return true;
  }

  startSweeper(): void {
    const { sweepSeconds } = this.context.config.agent;
    this.sweeper = setInterval(() => void this.sweep().catch(() => undefined), sweepSeconds * 1000);
    this.sweeper.unref();
  }

  /** Marks machines silent for longer than `offlineAfterSeconds` as Offline. */
  async sweep(): Promise<number> {
    const cutoff = new Date(this.context.config.now().getTime() - this.context.config.agent.offlineAfterSeconds * 1000);
    const rows = await this.context.db.query(
      `UPDATE machines SET status = 'Offline'
       WHERE status = 'Online' AND (last_seen_at IS NULL OR last_seen_at < $1) RETURNING id`,
      [cutoff],
    );
    for (const row of rows) {
      const entry = this.live.get(row.id as string);
      // A socket that stopped heartbeating is as good as gone: drop it so a reconnect is welcome.
      if (entry) {
        this.live.delete(row.id as string);
        entry.socket.terminate();
        this.listener?.offline(row.id as string);
      }
    }
    return rows.length;
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const [machineId, entry] of this.live) {
      entry.socket.close(AGENT_CLOSE.serverShutdown, 'server shutting down');
      this.live.delete(machineId);
    }
  }

  /** Handles one accepted socket from an authenticated machine. */
  handle(socket: WebSocket, machine: MachineCaller): void {
    const { helloTimeoutSeconds } = this.context.config.agent;
    let registered = false;
    const helloTimer = setTimeout(() => {
      if (!registered) this.refuse(socket, AGENT_CLOSE.invalidMessage, 'ValidationFailed', 'No hello received in time.');
    }, helloTimeoutSeconds * 1000);

    socket.on('message', (raw, isBinary) => {
      const message = isBinary ? null : parseMachineMessage(raw.toString());
      if (!message) {
        this.refuse(socket, AGENT_CLOSE.invalidMessage, 'ValidationFailed', 'The agent sent a message that is not valid.');
        return;
      }
      if (message.type === 'hello') {
        if (registered) return;
        clearTimeout(helloTimer);
        void this.onHello(socket, machine, message).then(
          (ok) => {
            registered = ok;
          },
          () => this.refuse(socket, AGENT_CLOSE.serverShutdown, 'InternalError', 'The server could not register the agent.'),
        );
        return;
      }
      if (!registered) {
        this.refuse(socket, AGENT_CLOSE.invalidMessage, 'ValidationFailed', 'Say hello first.');
        return;
      }
      if (this.live.get(machine.machineId)?.socket !== socket) return; // replaced meanwhile
      if (message.type === 'heartbeat') {
        void this.onHeartbeat(machine.machineId).catch(() => undefined);
        this.listener?.heartbeat(machine.machineId, message);
        return;
      }
      this.listener?.report(machine.machineId, message);
    });

    socket.on('close', () => {
      clearTimeout(helloTimer);
      const entry = this.live.get(machine.machineId);
      if (entry?.socket !== socket) return;
      this.live.delete(machine.machineId);
      void this.context.db
        .query(`UPDATE machines SET status = 'Offline' WHERE id = $1`, [machine.machineId])
        .catch(() => undefined);
      this.listener?.offline(machine.machineId);
    });
  }

  private refuse(socket: WebSocket, closeCode: number, code: string, message: string): void {
    if (socket.readyState === socket.OPEN) {
      socket.send(JSON.stringify({ type: 'error', code, message } satisfies CloudMessage));
      socket.close(closeCode, code);
    }
  }

  private async onHello(socket: WebSocket, machine: MachineCaller, hello: HelloMessage): Promise<boolean> {
    const { db, config } = this.context;
    const [row] = await db.query<{ fingerprint_hash: string; environment_id: string }>(
      'SELECT fingerprint_hash, environment_id FROM machines WHERE id = $1',
      [machine.machineId],
    );
    if (!row) {
      this.refuse(socket, AGENT_CLOSE.unauthorized, 'Unauthorized', 'This machine is no longer registered.');
      return false;
    }
    if (row.fingerprint_hash !== hello.fingerprint) {
      await db.transaction(async (tx) => {
        await tx.query('UPDATE machines SET clone_suspected = true WHERE id = $1', [machine.machineId]);
        await recordAudit(tx, {
          actor: machine,
          action: 'machine.cloneSuspected',
          targetType: 'machine',
          targetId: machine.machineId,
          environmentId: row.environment_id,
          detail: { via: 'agentSocket' },
        });
      });
      this.refuse(
        socket,
        AGENT_CLOSE.machineCloned,
        'MachineCloned',
        'This machine identity belongs to another host (was the machine copied?). Register this machine as a new machine.',
      );
      return false;
    }

    const existing = this.live.get(machine.machineId);
    if (existing && existing.socket !== socket) {
      if (await isAlive(existing.socket)) {
        this.refuse(
          socket,
          AGENT_CLOSE.sessionConflict,
          'SessionConflict',
          'This machine is already connected from another agent session.',
        );
        return false;
      }
      existing.socket.close(AGENT_CLOSE.replaced, 'replaced by a new connection');
      existing.socket.terminate();
    }
    if (socket.readyState !== socket.OPEN) return false;
    this.live.set(machine.machineId, { socket, fingerprint: hello.fingerprint });

    await db.query(
      `UPDATE machines SET status = 'Online', last_seen_at = $2, os = $3, runtime_version = $4 WHERE id = $1`,
      [machine.machineId, config.now(), hello.os, hello.version],
    );
    socket.send(
      JSON.stringify({
        type: 'welcome',
        machineId: machine.machineId,
        heartbeatSeconds: config.agent.heartbeatSeconds,
        serverTime: config.now().toISOString(),
      } satisfies CloudMessage),
    );
    this.listener?.online(machine.machineId, hello);
    return true;
  }

  private async onHeartbeat(machineId: string): Promise<void> {
    await this.context.db.query(`UPDATE machines SET status = 'Online', last_seen_at = $2 WHERE id = $1`, [
      machineId,
      this.context.config.now(),
    ]);
  }
}

function isAlive(socket: WebSocket): Promise<boolean> {
  if (socket.readyState !== socket.OPEN) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('pong', onPong);
      resolve(false);
    }, LIVENESS_PROBE_MS);
    const onPong = () => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once('pong', onPong);
    socket.ping();
  });
}

/** The socket route (the hub itself lives in the context, made by app.ts). */
export const agentRoutes: FastifyPluginAsync<{ context: CloudContext }> = async (app, { context }) => {
  const hub = context.agentHub;
  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });

  app.get(
    '/agent',
    {
      websocket: true,
      schema: {
        tags: ['agent'],
        summary: 'The agent socket (WebSocket upgrade; machine token). Messages: protocol/agent-messages.ts',
      },
      // Refuse before the upgrade, with a problem+json answer, when the caller is not a machine.
      preValidation: async (request, reply) => {
        const caller = request.caller;
        const error = !caller
          ? new ApiError('Unauthorized', 'The agent socket needs a machine access token.')
          : caller.kind !== 'machine'
            ? new ApiError('Forbidden', 'Only a machine can open the agent socket.')
            : null;
        if (error) return reply.status(error.status).type('application/problem+json').send(problemBody(error));
      },
    },
    (socket, request) => {
      hub.handle(socket, request.caller as MachineCaller);
    },
  );
};
