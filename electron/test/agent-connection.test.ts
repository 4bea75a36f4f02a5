import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCloud, type RunningCloud } from '../../cloud/src/start.ts';
import { accessToken, createEnvironment, createMachineRow, createUser } from '../../cloud/test/fixtures.ts';
import { AgentConnection, type AgentState } from '../runtime/agent-connection.ts';

/** The agent against a real cloud process state (PGlite in a folder), restarted mid-test. */
describe('agent connection', () => {
  let dataDir: string;
  let cloud: RunningCloud;
  let port: number;
  let machine: { id: string; fingerprint: string };
  const agents: AgentConnection[] = [];

  const start = async () =>
    startCloud({ port, host: '127.0.0.1', dataDir, logLevel: false, config: { agent: { heartbeatSeconds: 1, offlineAfterSeconds: 3, sweepSeconds: 1, helloTimeoutSeconds: 5 } } });
  const status = async () =>
    (await cloud.db.query<{ status: string }>('SELECT status FROM machines WHERE id = $1', [machine.id]))[0]?.status;
  const agentFor = (fingerprint: string, getAccessToken?: (force: boolean) => Promise<string>) => {
    const agent = new AgentConnection({
      serverUrl: cloud.url,
      fingerprint,
      version: 'test',
      backoff: { minMs: 100, maxMs: 400 },
      getAccessToken: getAccessToken ?? (() => accessToken(cloud.db, { machineId: machine.id })),
    });
    agents.push(agent);
    return agent;
  };
  const waitFor = (agent: AgentConnection, wanted: AgentState['status']) =>
    expect.poll(() => agent.state.status, { timeout: 15_000 }).toBe(wanted);

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'mr-agent-'));
    port = 0;
    cloud = await start();
    port = Number(new URL(cloud.url).port);
    const environmentId = await createEnvironment(cloud.db);
    const owner = await createUser(cloud.db, environmentId, 'Agent Owner', ['MachineOwner']);
    machine = await createMachineRow(cloud.db, environmentId, owner.id);
  });
  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await cloud?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('comes online, heartbeats, survives a cloud restart, and goes offline when stopped', async () => {
    const agent = agentFor(machine.fingerprint);
    agent.start();
    await waitFor(agent, 'online');
    await expect.poll(status).toBe('Online');
    await expect.poll(() => agent.lastHeartbeatAt).not.toBeNull();

    await cloud.close();
    await waitFor(agent, 'waiting');
    cloud = await start();
    await waitFor(agent, 'online');
    await expect.poll(status).toBe('Online');

    await agent.stop();
    expect(agent.state.status).toBe('stopped');
    await expect.poll(status).toBe('Offline');
  });

  it('fetches a fresh token when the cloud refuses the old one', async () => {
    const forced: boolean[] = [];
    const agent = agentFor(machine.fingerprint, async (force) => {
      forced.push(force);
      return forced.length === 1 ? 'expired-or-garbage' : accessToken(cloud.db, { machineId: machine.id });
    });
    agent.start();
    await waitFor(agent, 'online');
    expect(forced.slice(0, 2)).toEqual([false, true]);
    await agent.stop();
  });

  it('stops for good when the cloud says the machine identity was copied', async () => {
    const agent = agentFor('0'.repeat(64));
    agent.start();
    await waitFor(agent, 'refused');
    expect(agent.state).toMatchObject({ status: 'refused', code: 'MachineCloned' });
  });
});
