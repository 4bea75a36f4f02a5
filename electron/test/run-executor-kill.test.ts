import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCloud, type RunningCloud } from '../../cloud/src/start.ts';
import { DEFAULT_RUN_LIMITS } from '../../cloud/src/config.ts';
import { dispatcherOf } from '../../cloud/src/runs/dispatcher.ts';
import { TokenService } from '../../cloud/src/auth/tokens.ts';
import { createEnvironment, createUser, type FixtureUser } from '../../cloud/test/fixtures.ts';
import { createKeyedGroup, createKeyedMachine } from '../../cloud/test/runs-fixtures.ts';

const AGENT_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'run-executor-agent.ts');
let clockOffsetMs = 0;
const now = () => new Date(Date.now() + clockOffsetMs);

/** Each start of the flow appends a line to `startsFile`; the flow then runs for `seconds`. */
const COUNTING_FLOW = `
import { appendFileSync, writeFileSync } from 'node:fs';
let input = '';
for await (const chunk of process.stdin) input += chunk;
const { startsFile, pidFile, seconds } = JSON.parse(input);
appendFileSync(startsFile, process.env.MR_ATTEMPT + '\\n');
if (pidFile) writeFileSync(pidFile, String(process.pid));
await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
console.log(JSON.stringify({ attempt: Number(process.env.MR_ATTEMPT) }));
`;

describe('agents killed with SIGKILL (real agent processes)', () => {
  let cloud: RunningCloud;
  let owner: FixtureUser;
  let tokens: TokenService;
  let tmp: string;
  let environmentId: string;
  let group: Awaited<ReturnType<typeof createKeyedGroup>>;
  let connectionId: string;
  let flowId: string;
  const processes: ChildProcess[] = [];
  const orphans: number[] = [];

  const api = async (method: string, url: string, body?: unknown) => {
    const response = await fetch(`${cloud.url}/api/v1${url}`, {
      method,
      headers: { authorization: `Bearer ${await tokens.issue({ kind: 'user', userId: owner.id })}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return (await response.json()) as Record<string, unknown> & { id: string; status: string };
  };

  async function agentProcess(options: { keyDelayMs?: number } = {}) {
    const machine = await createKeyedMachine(cloud.db, environmentId, owner.id, { groupId: group.id });
    const child = spawn(process.execPath, ['--import', 'tsx', AGENT_ENTRY], {
      env: {
        ...process.env,
        MR_TEST_AGENT: JSON.stringify({
          serverUrl: cloud.url,
          token: await tokens.issue({ kind: 'machine', machineId: machine.id }),
          fingerprint: machine.fingerprint,
          groupId: group.id,
          groupKeys: group.keys,
          keyDelayMs: options.keyDelayMs,
        }),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    processes.push(child);
    const lines: string[] = [];
    child.stdout!.on('data', (data: Buffer) => lines.push(...data.toString().split('\n').filter(Boolean)));
    await expect.poll(() => lines.some((l) => l.includes('"online"')), { timeout: 20_000 }).toBe(true);
    return { machine, child, lines };
  }
  const status = async (id: string) => (await api('GET', `/runs/${id}`)).status;
  const starts = (file: string) => {
    try {
      return readFileSync(file, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mr-kill-'));
    cloud = await startCloud({
      port: 0,
      host: '127.0.0.1',
      logLevel: false,
      config: {
        now,
        agent: { heartbeatSeconds: 1, offlineAfterSeconds: 3600, sweepSeconds: 3600, helloTimeoutSeconds: 10 },
        runs: { ...DEFAULT_RUN_LIMITS, sweepSeconds: 3600 },
      },
    });
    tokens = await TokenService.load(cloud.db, 3600, now);
    environmentId = await createEnvironment(cloud.db);
    owner = await createUser(cloud.db, environmentId, 'Kill Owner', ['MachineOwner']);
    group = await createKeyedGroup(cloud.db, environmentId, owner.id);
    connectionId = (await api('POST', '/connections', { name: 'c', target: { type: 'MachineGroup', id: group.id }, username: 'u', password: 'pw-123456' })).id;
    flowId = (await api('POST', '/desktop-flows', { name: 'counting', runtime: 'node', script: COUNTING_FLOW })).id;
  });
  afterAll(async () => {
    for (const child of processes) child.kill('SIGKILL');
    for (const pid of orphans) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await cloud?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('an agent killed before accepting: the run is requeued and starts exactly once, on another machine', async () => {
    const startsFile = path.join(tmp, 'starts-1');
    const slow = await agentProcess({ keyDelayMs: 60_000 });
    const id = (await api('POST', '/runs', { desktopFlowId: flowId, connectionId, runMode: 'Unattended', inputs: { startsFile, seconds: 0 } })).id;
    await expect.poll(() => status(id)).toBe('Assigned');
    slow.child.kill('SIGKILL');
    await expect.poll(() => status(id), { timeout: 10_000 }).toBe('Queued');

    await agentProcess();
    await expect.poll(() => status(id), { timeout: 20_000 }).toBe('Succeeded');
    const run = await api('GET', `/runs/${id}`);
    expect(run).toMatchObject({ attempt: 2, outputs: { attempt: 2 } });
    expect(starts(startsFile)).toEqual(['2']);
  });

  it('an agent killed while running: the run fails with MachineLost when its lease lapses and is never restarted', async () => {
    for (const child of processes) child.kill('SIGKILL');
    const startsFile = path.join(tmp, 'starts-2');
    const pidFile = path.join(tmp, 'flow-2.pid');
    const doomed = await agentProcess();
    const id = (await api('POST', '/runs', { desktopFlowId: flowId, connectionId, runMode: 'Unattended', inputs: { startsFile, pidFile, seconds: 300 } })).id;
    await expect.poll(() => status(id), { timeout: 20_000 }).toBe('Running');
    await expect.poll(() => starts(startsFile).length).toBe(1);
    orphans.push(Number(readFileSync(pidFile, 'utf8')));
    doomed.child.kill('SIGKILL');
    const standby = await agentProcess();

    clockOffsetMs += (DEFAULT_RUN_LIMITS.leaseSeconds + 5) * 1000;
    await dispatcherOf(cloud.server.cloud).sweep();
    expect(await api('GET', `/runs/${id}`)).toMatchObject({ status: 'Failed', error: { code: 'MachineLost' }, attempt: 1, machineId: doomed.machine.id });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(standby.lines.some((l) => l.includes(id))).toBe(false);
    expect(starts(startsFile)).toEqual(['1']);
  });
});
