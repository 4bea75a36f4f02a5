/** Simulated agents for the runs suites: real WebSockets to a listening test cloud, driven by hand. */
import WebSocket from 'ws';
import type { CloudMessage, HelloMessage, MachineMessage } from '../../protocol/agent-messages.ts';

export interface SimulatedAgent {
  machineId: string;
  socket: WebSocket;
  received: CloudMessage[];
  /** The next message of `type` not yet taken (waits up to `timeoutMs`). */
  next<T extends CloudMessage['type']>(type: T, timeoutMs?: number): Promise<Extract<CloudMessage, { type: T }>>;
  /** Resolves false if no message of `type` arrives within `ms`. */
  nothing(type: CloudMessage['type'], ms?: number): Promise<boolean>;
  send(message: MachineMessage): void;
  /** The process dies: the TCP connection drops without a close frame. */
  kill(): void;
  closed: Promise<void>;
}

export async function connectAgent(
  baseUrl: string,
  machine: { id: string; token: string; fingerprint: string },
  options: { acceptsUnattended?: boolean; session?: HelloMessage['session'] } = {},
): Promise<SimulatedAgent> {
  const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/api/v1/agent`, { headers: { authorization: `Bearer ${machine.token}` } });
  const received: CloudMessage[] = [];
  const taken = new Set<CloudMessage>();
  const waiters: (() => void)[] = [];
  socket.on('message', (data) => {
    received.push(JSON.parse(data.toString()) as CloudMessage);
    for (const wake of waiters.splice(0)) wake();
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const find = (type: string) => received.find((m) => m.type === type && !taken.has(m));
  const agent: SimulatedAgent = {
    machineId: machine.id,
    socket,
    received,
    next(type, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        let expired = false;
        const timer = setTimeout(() => {
          expired = true;
          reject(new Error(`no ${type} message for machine ${machine.id} within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          if (expired) return;
          const found = find(type);
          if (found) {
            taken.add(found);
            clearTimeout(timer);
            resolve(found as never);
          } else waiters.push(check);
        };
        check();
      });
    },
    async nothing(type, ms = 300) {
      try {
        await agent.next(type, ms);
        return false;
      } catch {
        return true;
      }
    },
    send(message) {
      socket.send(JSON.stringify(message));
    },
    kill() {
      socket.terminate();
    },
    closed,
  };
  agent.send({
    type: 'hello',
    version: 'sim',
    os: 'linux sim',
    fingerprint: machine.fingerprint,
    session: options.session ?? { user: null, locked: false },
    acceptsUnattended: options.acceptsUnattended ?? true,
  });
  await agent.next('welcome');
  return agent;
}
