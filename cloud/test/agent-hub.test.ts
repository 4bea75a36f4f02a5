import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import WebSocket from 'ws';
import { buildCloud, DATABASE_ENGINE, listen, type TestCloud } from './helper.ts';
import { createEnvironment, createMachineRow, createUser } from './fixtures.ts';
import type { CloudMessage, HelloMessage } from '../../protocol/agent-messages.ts';

/** A clock the test moves by hand. */
let clockOffsetMs = 0;
const now = () => new Date(Date.now() + clockOffsetMs);

const hello = (fingerprint: string): HelloMessage => ({
  type: 'hello',
  version: '0.1.0-test',
  os: 'linux test',
  fingerprint,
  session: { user: null, locked: false },
  acceptsUnattended: true,
});

interface Agent {
  socket: WebSocket;
  next(): Promise<CloudMessage>;
  closed: Promise<number>;
}

describe(`agent socket hub (${DATABASE_ENGINE})`, () => {
  let cloud: TestCloud;
  let url: string;
  let environmentId: string;
  let ownerId: string;
  let ownerToken: string;

  function connect(token: string): Promise<Agent> {
    const socket = new WebSocket(`${url}/api/v1/agent`, { headers: { authorization: `Bearer ${token}` } });
    const queue: CloudMessage[] = [];
    const waiters: ((m: CloudMessage) => void)[] = [];
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as CloudMessage;
      const waiter = waiters.shift();
      if (waiter) waiter(message);
      else queue.push(message);
    });
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    return new Promise((resolve, reject) => {
      socket.once('open', () =>
        resolve({
          socket,
          closed,
          next: () => new Promise((r) => (queue.length ? r(queue.shift()!) : waiters.push(r))),
        }),
      );
      socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      socket.once('error', reject);
    });
  }

  const machineRow = async (id: string) =>
    (await cloud.db.query<{ status: string; last_seen_at: Date | null; clone_suspected: boolean; os: string | null }>(
      'SELECT status, last_seen_at, clone_suspected, os FROM machines WHERE id = $1',
      [id],
    ))[0]!;

  beforeAll(async () => {
    cloud = await buildCloud({
      now,
      agent: { heartbeatSeconds: 10, offlineAfterSeconds: 30, sweepSeconds: 3600, helloTimeoutSeconds: 2 },
    });
    url = (await listen(cloud)).replace(/^http/, 'ws');
    environmentId = await createEnvironment(cloud.db);
    const owner = await createUser(cloud.db, environmentId, 'Olivia Owner', ['MachineOwner']);
    ownerId = owner.id;
    ownerToken = owner.token;
  });
  afterAll(async () => cloud?.close());

  it('refuses the upgrade without a machine token', async () => {
    await expect(connect('not-a-token')).rejects.toThrow('HTTP 401');
    await expect(connect(ownerToken)).rejects.toThrow('HTTP 403');
  });

  it('marks a machine Online on hello, keeps lastSeenAt on heartbeats, Offline when the socket closes', async () => {
    const machine = await createMachineRow(cloud.db, environmentId, ownerId);
    expect((await machineRow(machine.id)).status).toBe('Offline');
    const agent = await connect(machine.token);
    agent.socket.send(JSON.stringify(hello(machine.fingerprint)));
    const welcome = await agent.next();
    expect(welcome).toMatchObject({ type: 'welcome', machineId: machine.id, heartbeatSeconds: 10 });
    const online = await machineRow(machine.id);
    expect(online.status).toBe('Online');
    expect(online.os).toBe('linux test');
    const firstSeen = online.last_seen_at!.getTime();

    clockOffsetMs += 5_000;
    agent.socket.send(JSON.stringify({ type: 'heartbeat', runningRunIds: [] }));
    await expect.poll(async () => (await machineRow(machine.id)).last_seen_at!.getTime()).toBeGreaterThan(firstSeen);

    agent.socket.close();
    await expect.poll(async () => (await machineRow(machine.id)).status).toBe('Offline');
  });

  it('marks a silent machine Offline about 30 s after its last heartbeat', async () => {
    const machine = await createMachineRow(cloud.db, environmentId, ownerId);
    const agent = await connect(machine.token);
    agent.socket.send(JSON.stringify(hello(machine.fingerprint)));
    await agent.next();
    clockOffsetMs += 20_000;
    expect(await cloud.app.cloud.agentHub.sweep()).toBe(0);
    expect((await machineRow(machine.id)).status).toBe('Online');
    clockOffsetMs += 15_000;
    expect(await cloud.app.cloud.agentHub.sweep()).toBeGreaterThanOrEqual(1);
    expect((await machineRow(machine.id)).status).toBe('Offline');
    // The silent socket was dropped, so the agent learns it must reconnect.
    await agent.closed;
  });

  it('refuses a copied machine identity (another fingerprint) and marks it clone-suspected', async () => {
    const machine = await createMachineRow(cloud.db, environmentId, ownerId);
    const agent = await connect(machine.token);
    agent.socket.send(JSON.stringify(hello('f'.repeat(64))));
    expect(await agent.next()).toMatchObject({ type: 'error', code: 'MachineCloned' });
    expect(await agent.closed).toBe(4409);
    const row = await machineRow(machine.id);
    expect(row.clone_suspected).toBe(true);
    expect(row.status).toBe('Offline');
  });

  it('refuses a second live socket for one machine, but lets a reconnect replace a dead one', async () => {
    const machine = await createMachineRow(cloud.db, environmentId, ownerId);
    const first = await connect(machine.token);
    first.socket.send(JSON.stringify(hello(machine.fingerprint)));
    expect((await first.next()).type).toBe('welcome');

    const second = await connect(machine.token);
    second.socket.send(JSON.stringify(hello(machine.fingerprint)));
    expect(await second.next()).toMatchObject({ type: 'error', code: 'SessionConflict' });
    expect(await second.closed).toBe(4410);

    // The first agent's process hangs (it stops reading, so it no longer answers pings).
    (first.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const third = await connect(machine.token);
    third.socket.send(JSON.stringify(hello(machine.fingerprint)));
    expect((await third.next()).type).toBe('welcome');
    expect((await machineRow(machine.id)).status).toBe('Online');
    third.socket.close();
    first.socket.terminate();
  });

  it('closes a socket that sends garbage or never says hello', async () => {
    const machine = await createMachineRow(cloud.db, environmentId, ownerId);
    const garbage = await connect(machine.token);
    garbage.socket.send('{"type":"hello"');
    expect(await garbage.next()).toMatchObject({ type: 'error', code: 'ValidationFailed' });
    expect(await garbage.closed).toBe(4400);

    const silent = await connect(machine.token);
    const [code] = (await once(silent.socket, 'close')) as [number];
    expect(code).toBe(4400);
  });
});
