import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync as readdir, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCloud, type RunningCloud } from '../../cloud/src/start.ts';
import { DEFAULT_RUN_LIMITS } from '../../cloud/src/config.ts';
import { accessToken, createEnvironment, createUser, type FixtureUser } from '../../cloud/test/fixtures.ts';
import { createKeyedGroup, createKeyedMachine } from '../../cloud/test/runs-fixtures.ts';
import { AgentConnection } from '../runtime/agent-connection.ts';
import { RunExecutor, type RunExecutorEvent } from '../runtime/run-executor.ts';
import { secretStoreCredentialKeys } from '../runtime/run-keys.ts';
import { MemorySecretStore, groupKeySecret } from '../runtime/secret-store.ts';
import { serializeGroupKeys } from '../runtime/group-crypto.ts';

const PASSWORD = 'Tr0ub4dor&3-service-password';

const ECHO_FLOW = `
let input = '';
for await (const chunk of process.stdin) input += chunk;
const inputs = JSON.parse(input);
console.log('starting for ' + inputs.customer);
console.error('a warning on stderr');
console.log('the password is ' + process.env.MR_PASSWORD);
console.log(JSON.stringify({ greeting: 'hello ' + inputs.customer, user: process.env.MR_USERNAME, passwordLength: process.env.MR_PASSWORD.length, cwdIsOwn: process.cwd() === process.env.MR_WORKDIR }));
`;

/** Spawns a grandchild that would outlive a naive kill, records its pid, then waits forever. */
const HANG_FLOW = `
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
let input = '';
for await (const chunk of process.stdin) input += chunk;
const { pidFile } = JSON.parse(input);
const child = spawn('sleep', ['300'], { stdio: 'ignore' });
process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
writeFileSync(pidFile, JSON.stringify({ flow: process.pid, grandchild: child.pid }));
console.log('waiting');
setInterval(() => {}, 1000);
`;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('run executor end to end (real cloud, real agent, real child processes)', () => {
  let cloud: RunningCloud;
  let owner: FixtureUser;
  let tmp: string;
  let connectionId: string;
  let agent: AgentConnection;
  let executor: RunExecutor;
  const events: RunExecutorEvent[] = [];
  const stderrWrites: string[] = [];
  const realWrite = process.stderr.write.bind(process.stderr);

  const api = async (method: string, url: string, body?: unknown) => {
    const response = await fetch(`${cloud.url}/api/v1${url}`, {
      method,
      headers: { authorization: `Bearer ${owner.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> & { id: string } };
  };
  const flow = async (name: string, runtime: string, script: string) => (await api('POST', '/desktop-flows', { name, runtime, script })).json.id;
  const queue = async (desktopFlowId: string, inputs: unknown) => {
    const queued = await api('POST', '/runs', { desktopFlowId, connectionId, runMode: 'Unattended', inputs });
    expect(queued.status).toBe(202);
    return queued.json.id;
  };
  const status = async (id: string) => (await api('GET', `/runs/${id}`)).json.status;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mr-exec-'));
    // Capture what the cloud and agent write to stderr, to search it for the password later.
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      stderrWrites.push(chunk.toString());
      return (realWrite as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;
    cloud = await startCloud({ port: 0, host: '127.0.0.1', logLevel: 'info', config: { agent: { heartbeatSeconds: 1, offlineAfterSeconds: 30, sweepSeconds: 5, helloTimeoutSeconds: 5 }, runs: { ...DEFAULT_RUN_LIMITS, stopGraceSeconds: 1 } } });
    const environmentId = await createEnvironment(cloud.db);
    owner = await createUser(cloud.db, environmentId, 'Exec Owner', ['MachineOwner']);
    const group = await createKeyedGroup(cloud.db, environmentId, owner.id);
    const machine = await createKeyedMachine(cloud.db, environmentId, owner.id, { groupId: group.id });
    connectionId = (await api('POST', '/connections', { name: 'svc', target: { type: 'MachineGroup', id: group.id }, username: 'svc-robot', password: PASSWORD })).json.id;

    const secrets = new MemorySecretStore();
    await secrets.set(groupKeySecret(group.id), serializeGroupKeys(group.keys));
    agent = new AgentConnection({
      serverUrl: cloud.url,
      fingerprint: machine.fingerprint,
      version: 'test',
      acceptsUnattended: true,
      backoff: { minMs: 100, maxMs: 400 },
      getAccessToken: () => accessToken(cloud.db, { machineId: machine.id }),
    });
    executor = new RunExecutor({ link: agent, keys: secretStoreCredentialKeys(secrets), acceptsUnattended: true, workRoot: tmp, logFlushMs: 50 });
    agent.setRunningRunIds(() => executor.runningRunIds());
    executor.on('event', (event) => events.push(event));
    executor.start();
    agent.start();
    const deadline = Date.now() + 15_000;
    while (agent.state.status !== 'online' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  });
  afterAll(async () => {
    process.stderr.write = realWrite;
    await executor?.stop();
    await agent?.stop();
    await cloud?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs a node flow: inputs on stdin, credentials in the environment, outputs from the last line, logs readable, password masked', async () => {
    const id = await queue(await flow('Greeter', 'node', ECHO_FLOW), { customer: 'Contoso' });
    await expect.poll(() => status(id), { timeout: 20_000 }).toBe('Succeeded');
    const run = (await api('GET', `/runs/${id}`)).json;
    expect(run.outputs).toEqual({ greeting: 'hello Contoso', user: 'svc-robot', passwordLength: PASSWORD.length, cwdIsOwn: true });
    expect(run.attempt).toBe(1);
    expect(run.startedAt).not.toBeNull();

    await expect.poll(async () => ((await api('GET', `/runs/${id}/logs`)).json.lines as unknown[]).length).toBeGreaterThanOrEqual(4);
    const logs = (await api('GET', `/runs/${id}/logs`)).json.lines as { stream: string; line: string }[];
    expect(logs).toContainEqual(expect.objectContaining({ stream: 'stdout', line: 'starting for Contoso' }));
    expect(logs).toContainEqual(expect.objectContaining({ stream: 'stderr', line: 'a warning on stderr' }));
    expect(logs).toContainEqual(expect.objectContaining({ line: 'the password is ********' }));

    // The password is nowhere in the database, nor in anything the cloud or agent logged.
    for (const table of ['connections', 'runs', 'run_logs', 'audit_events', 'desktop_flows', 'agent_sessions']) {
      const rows = await cloud.db.query<{ t: string }>(`SELECT t::text AS t FROM ${table} t`);
      for (const row of rows) expect(row.t, table).not.toContain(PASSWORD);
    }
    expect(stderrWrites.join('')).not.toContain(PASSWORD);
    expect(stderrWrites.length).toBeGreaterThan(0);
    // Its working folder is gone.
    expect(readdir(tmp)).toEqual([]);
  });

  it('maps a non-zero exit to Failed with the last stderr line, and a shell flow runs too', async () => {
    const failing = await queue(await flow('Failing', 'shell', 'echo "about to fail"; echo "disk full" >&2; exit 3'), {});
    await expect.poll(() => status(failing), { timeout: 20_000 }).toBe('Failed');
    expect((await api('GET', `/runs/${failing}`)).json.error).toEqual({ code: 'FlowFailed', message: 'The flow exited with code 3: disk full' });

    const shell = await queue(await flow('Shell outputs', 'shell', 'cat > /dev/null; printf \'{"user":"%s"}\' "$MR_USERNAME" > "$MR_OUTPUTS_FILE"'), {});
    await expect.poll(() => status(shell), { timeout: 20_000 }).toBe('Succeeded');
    expect((await api('GET', `/runs/${shell}`)).json.outputs).toEqual({ user: 'svc-robot' });
  });

  it('cancel stops the whole process tree (SIGTERM, then SIGKILL after the grace period)', async () => {
    const pidFile = path.join(tmp, 'pids.json');
    const id = await queue(await flow('Hang', 'node', HANG_FLOW), { pidFile });
    await expect.poll(() => { try { return readFileSync(pidFile, 'utf8').length > 0; } catch { return false; } }, { timeout: 20_000 }).toBe(true);
    const pids = JSON.parse(readFileSync(pidFile, 'utf8')) as { flow: number; grandchild: number };
    expect(alive(pids.flow) && alive(pids.grandchild)).toBe(true);
    await expect.poll(() => status(id)).toBe('Running');

    const cancel = await api('POST', `/runs/${id}/cancel`);
    expect(cancel.status).toBe(200);
    // The flow ignores SIGTERM: it dies at SIGKILL after the grace period (1 s here).
    await expect.poll(() => status(id), { timeout: 20_000 }).toBe('Cancelled');
    expect(alive(pids.flow)).toBe(false);
    expect(alive(pids.grandchild)).toBe(false);
    rmSync(pidFile, { force: true });
    expect(events.filter((e) => e.type === 'started').length).toBe(4);
  });
});
