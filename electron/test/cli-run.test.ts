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

  it('lists a queue in dispatch order, reorders it, shows a run\'s story and cancels', { timeout: 180_000 }, async () => {
    // The group's only machine goes offline: runs wait in the queue.
    agent.kill('SIGTERM');
    await new Promise((resolve) => agent.once('exit', resolve));
    const queue = async (priority: string) => {
      const queued = await admin(['run', '--flow', 'Greet', '--connection', 'farm', '--priority', priority, '--inputs', `{"name":"${priority}"}`, '--json']);
      expect(queued.code, queued.stderr).toBe(0);
      return (JSON.parse(queued.stdout) as { id: string }).id;
    };
    const first = await queue('normal');
    const second = await queue('normal');
    const urgent = await queue('high');
    const order = async () => {
      const listed = await admin(['runs', 'list', '--group', 'Farm', '--status', 'queued', '--json']);
      expect(listed.code, listed.stderr).toBe(0);
      return (JSON.parse(listed.stdout) as { id: string; queuePosition: number }[])
        .sort((a, b) => a.queuePosition - b.queuePosition)
        .map((r) => r.id)
        .filter((id) => [first, second, urgent].includes(id));
    };
    expect(await order()).toEqual([urgent, first, second]);

    const raised = await admin(['runs', 'priority', second, 'high']);
    expect(raised.code, raised.stderr).toBe(0);
    expect(raised.stdout).toMatch(/is now High, #1 in the queue/);
    const moved = await admin(['runs', 'move-to-top', first]);
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toMatch(/is next to run/);
    expect(await order()).toEqual([first, second, urgent]);

    const table = await admin(['runs', 'list', '--group', 'Farm']);
    expect(table.stdout.split('\n')[0]).toMatch(/^STATUS\s+NOTE\s+PRIORITY\s+FLOW/);
    expect(table.stdout).toMatch(/Queued\s+#1 NoMachineOnline\s+Normal \(top\)\s+Greet/);

    const story = await admin(['runs', 'show', first]);
    expect(story.code, story.stderr).toBe(0);
    expect(story.stdout).toMatch(/^Run [0-9a-f-]{36}: Queued — #1 in the queue; No machine of the target is online\./);
    expect(story.stdout).toMatch(/queued by IT \(Normal\)\n.*moved to the top of the queue by IT/);

    // Bad input: a clear sentence and the usage exit code, before any request.
    const badId = await admin(['runs', 'show', 'not-a-run']);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toMatch(/is not a run id/);
    expect((await admin(['runs', 'priority', second, 'urgent'])).code).toBe(2);

    // The machine comes back: the moved run goes first, then the High one.
    agent = startCli(path.join(dir, 'vm1'), ['agent']);
    let startedAt: string[] = [];
    for (;;) {
      const listed = JSON.parse((await admin(['runs', 'list', '--group', 'Farm', '--json'])).stdout) as { id: string; status: string; startedAt: string }[];
      const ours = [first, second, urgent].map((id) => listed.find((r) => r.id === id)!);
      if (ours.every((r) => r.status === 'Succeeded')) {
        startedAt = ours.map((r) => r.startedAt);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect([...startedAt].sort()).toEqual(startedAt);
    const ended = await admin(['runs', 'show', first]);
    expect(ended.stdout).toMatch(/starting on vm1 \(attempt 1\)\n.*started on vm1\n.*finished: Succeeded/);

    // Reordering or cancelling a run that already ended is a conflict (exit 5), with the reason.
    const late = await admin(['runs', 'move-to-top', first]);
    expect(late.code).toBe(5);
    expect(late.stderr).toMatch(/no longer queued \(Succeeded\).*RunNotQueued/);
    const cancelLate = await admin(['runs', 'cancel', first]);
    expect(cancelLate.code).toBe(5);
    expect(cancelLate.stderr).toContain('RunFinished');
    const logs = await admin(['runs', 'logs', first]);
    expect(logs.stdout).toContain('| hello normal as robot');
  });
});
