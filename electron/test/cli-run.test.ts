/**
 * Issue 5 through the command line: a flow queued with `machine-runtime run --wait` is pushed
 * to the group's machine (a real `agent` process), runs there with the connection's
 * credentials, and the command exits with the run's result.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { runCli, startCli, startCloudProcess, type CloudProcess } from './support/processes.ts';

describe('machine-runtime run', () => {
  let dir: string;
  let cloud: CloudProcess;
  let agent: ChildProcess;
  const admin = (args: string[], stdin?: string) => runCli(path.join(dir, 'admin'), args, stdin === undefined ? {} : { stdin });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mr-cli-run-'));
    cloud = await startCloudProcess(path.join(dir, 'cloud'));
    expect((await admin(['--server', cloud.url, 'setup', '--email', 'it@example.com', '--name', 'IT'], 'admin-password-1\n')).code).toBe(0);
    expect((await admin(['groups', 'create', '--name', 'Farm'])).code).toBe(0);
    const token = (await admin(['registration-token'])).stdout.trim();
    const vm = path.join(dir, 'vm1');
    expect((await runCli(vm, ['--server', cloud.url, 'register', '--token-stdin', '--name', 'vm1'], { stdin: `${token}\n` })).code).toBe(0);
    expect((await runCli(vm, ['groups', 'join', '--group', 'Farm'], { stdin: 'farm-password\n' })).code).toBe(0);
    agent = startCli(vm, ['agent']);
    writeFileSync(
      path.join(dir, 'greet.mjs'),
      `let input = ''; for await (const chunk of process.stdin) input += chunk;
       const { name } = JSON.parse(input || '{}');
       console.log('hello ' + name + ' as ' + process.env.MR_USERNAME);
       console.log(JSON.stringify({ greeting: 'hi ' + name, passwordLength: process.env.MR_PASSWORD.length }));`,
    );
    writeFileSync(path.join(dir, 'fail.sh'), 'echo "about to fail" >&2; exit 3\n');
  }, 180_000);

  afterAll(async () => {
    agent?.kill('SIGTERM');
    await cloud?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('queues a flow, follows it and exits with its result', { timeout: 180_000 }, async () => {
    expect((await admin(['flows', 'create', '--name', 'Greet', '--runtime', 'node', '--file', path.join(dir, 'greet.mjs')])).code).toBe(0);
    expect((await admin(['flows', 'create', '--name', 'Fail', '--runtime', 'shell', '--file', path.join(dir, 'fail.sh')])).code).toBe(0);
    const refusedSecret = await admin(['connections', 'create', '--name', 'farm', '--group', 'Farm', '--username', 'robot', '--password', 'x']);
    expect(refusedSecret.code).toBe(2);
    expect((await admin(['connections', 'create', '--name', 'farm', '--group', 'Farm', '--username', 'robot'], 'robot-password\n')).code).toBe(0);

    const ok = await admin(['run', '--flow', 'Greet', '--connection', 'farm', '--inputs', '{"name":"Ada"}', '--wait', '--json']);
    expect(ok.code).toBe(0);
    const run = JSON.parse(ok.stdout) as { status: string; outputs: unknown; machineId: string; attempt: number };
    expect(run).toMatchObject({ status: 'Succeeded', outputs: { greeting: 'hi Ada', passwordLength: 14 }, attempt: 1 });
    expect(ok.stderr).toContain('hello Ada as robot');
    expect(ok.stderr).not.toContain('robot-password');

    const failed = await admin(['run', '--flow', 'Fail', '--connection', 'farm', '--priority', 'high', '--wait']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/ended Failed/);
    expect(failed.stderr).toContain('about to fail');

    const queuedOnly = await admin(['run', '--flow', 'Greet', '--connection', 'farm']);
    expect(queuedOnly.code).toBe(0);
    expect(queuedOnly.stdout).toMatch(/^Queued run [0-9a-f-]{36} of "Greet" on "farm"\./);

    const unknown = await admin(['run', '--flow', 'Nope', '--connection', 'farm']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('NotFound');
  });
});
