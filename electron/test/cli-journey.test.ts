/**
 * The IT-staff journey (issue 3) against a real cloud process, each machine in its own profile
 * folder, through the real `machine-runtime` command and its exit codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, startCloudProcess, type CloudProcess } from './support/processes.ts';

describe('machine-runtime CLI: enrolling VMs into machine groups', () => {
  let dir: string;
  let cloud: CloudProcess;
  const profile = (name: string) => path.join(dir, name);
  const admin = (args: string[], stdin?: string) => runCli(profile('admin'), args, { stdin });
  const vm = (name: string, args: string[], stdin?: string) => runCli(profile(name), args, { stdin });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mr-cli-'));
    cloud = await startCloudProcess(path.join(dir, 'cloud'));
  });
  afterAll(async () => {
    await cloud?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes an administrator, VMs enrolled with a token, groups with a password nobody else knows', { timeout: 300_000 }, async () => {
    // A secret on the command line is refused before anything happens.
    const leaked = await admin(['setup', '--server', cloud.url, '--email', 'it@example.com', '--name', 'IT', '--password', 'x']);
    expect(leaked.code).toBe(2);
    expect(leaked.stderr).toMatch(/never taken from the command line.*SecretOnCommandLine/);

    const setup = await admin(['setup', '--server', cloud.url, '--email', 'it@example.com', '--name', 'IT Staff'], 'admin-password-1\n');
    expect(setup.stderr).toBe('');
    expect(setup.code).toBe(0);
    expect(setup.stdout).toContain('it@example.com is its first administrator');

    const again = await admin(['setup', '--email', 'x@example.com', '--name', 'X'], 'another-password\n');
    expect(again.code).toBe(5);
    expect(again.stderr).toContain('AlreadySetUp');

    const token = await admin(['registration-token', '--max-uses', '3']);
    expect(token.code).toBe(0);
    const registrationToken = token.stdout.trim();
    expect(registrationToken).toMatch(/^\S{20,}$/);

    for (const name of ['vm1', 'vm2', 'vm3']) {
      const registered = await vm(name, ['--server', cloud.url, 'register', '--token-stdin', '--name', name], `${registrationToken}\n`);
      expect(registered.stderr).toBe('');
      expect(registered.code).toBe(0);
      expect(registered.stdout).toContain(`Registered this machine as "${name}"`);
    }
    const used = await vm('vm4', ['--server', cloud.url, 'register', '--token-stdin', '--name', 'vm4'], `${registrationToken}\n`);
    expect(used.code).toBe(3);

    expect((await admin(['groups', 'create', '--name', 'Build farm', '--description', 'CI VMs'])).code).toBe(0);
    expect((await admin(['groups', 'create', '--name', 'Night shift'])).code).toBe(0);
    const taken = await admin(['groups', 'create', '--name', 'build FARM']);
    expect(taken.code).toBe(5);
    expect(taken.stderr).toContain('NameTaken');

    const first = await vm('vm1', ['groups', 'join', '--group', 'Build farm'], 'first-password\n');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('The group password is set; it cannot be recovered');
    expect(first.stderr).toContain('Deriving the group key');

    const wrong = await vm('vm2', ['groups', 'join', '--group', 'Build farm'], 'not-the-password\n');
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toContain('The group password is incorrect. (IncorrectGroupPassword)');

    const right = await vm('vm2', ['groups', 'join', '--group', 'build farm'], 'first-password\n');
    expect(right.code).toBe(0);
    expect(right.stdout).toContain('Added this machine to "Build farm"');

    const list = await admin(['groups', 'list', '--json']);
    expect(list.code).toBe(0);
    const groups = JSON.parse(list.stdout) as { name: string; machineCount: number; access: string; owner: { displayName: string } }[];
    expect(groups.find((g) => g.name === 'Build farm')).toMatchObject({ machineCount: 2, access: 'Owner', owner: { displayName: 'IT Staff' } });
    expect(groups.find((g) => g.name === 'Night shift')).toMatchObject({ machineCount: 0 });
    const table = await admin(['groups', 'list']);
    expect(table.stdout).toMatch(/NAME\s+DESCRIPTION\s+MACHINES\s+RUNNING\s+QUEUED\s+ACCESS\s+OWNER/);
    expect(table.stdout).toMatch(/Build farm\s+CI VMs\s+2\s+0\s+0\s+Owner\s+IT Staff/);

    // A member machine changes the password: the old one stops working, the new one works.
    const changed = await vm('vm2', ['groups', 'password', '--group', 'Build farm'], 'second-password\n');
    expect(changed.code).toBe(0);
    expect((await vm('vm3', ['groups', 'join', '--group', 'Build farm'], 'first-password\n')).code).toBe(4);
    expect((await vm('vm3', ['groups', 'join', '--group', 'Build farm'], 'second-password\n')).code).toBe(0);
    const notMember = await vm('vm3', ['groups', 'password', '--group', 'Night shift'], 'whatever-123\n');
    expect(notMember.code).not.toBe(0);

    // vm1 moves to another group, and says so.
    const moved = await vm('vm1', ['groups', 'join', '--group', 'Night shift'], 'night-password\n');
    expect(moved.code).toBe(0);
    expect(moved.stdout).toContain('Moved this machine from "Build farm" to "Night shift"');
    const status = JSON.parse((await vm('vm1', ['status', '--json'])).stdout) as { group: { name: string } };
    expect(status.group.name).toBe('Night shift');

    // vm1 leaves; the empty group can go, the other cannot.
    const left = await vm('vm1', ['groups', 'leave']);
    expect(left.code).toBe(0);
    expect(left.stdout).toContain('left "Night shift"');
    const refused = await admin(['groups', 'delete', '--group', 'Build farm']);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toContain('GroupNotEmpty');
    const deleted = await admin(['groups', 'delete', '--group', 'Night shift']);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toContain('Deleted machine group "Night shift"');
    const after = JSON.parse((await admin(['groups', 'list', '--json'])).stdout) as { name: string; machineCount: number }[];
    expect(after.map((g) => [g.name, g.machineCount])).toEqual([['Build farm', 2]]);
  });

  it('explains what is missing instead of failing obscurely', { timeout: 120_000 }, async () => {
    const noServer = await runCli(profile('fresh'), ['groups', 'list']);
    expect(noServer.code).toBe(2);
    expect(noServer.stderr).toContain('--server');
    const notSignedIn = await runCli(profile('fresh'), ['--server', cloud.url, 'groups', 'list']);
    expect(notSignedIn.code).toBe(3);
    const notRegistered = await runCli(profile('fresh'), ['groups', 'leave']);
    expect(notRegistered.code).toBe(3);
    expect(notRegistered.stderr).toContain('NotRegistered');
    const badLogin = await runCli(profile('fresh'), ['login', '--email', 'it@example.com'], { stdin: 'wrong-password\n' });
    expect(badLogin.code).toBe(3);
    const noSecret = await runCli(profile('fresh'), ['login', '--email', 'it@example.com']);
    expect(noSecret.code).toBe(2);
    const login = await runCli(profile('fresh'), ['login', '--email', 'it@example.com'], { stdin: 'admin-password-1\n' });
    expect(login.code).toBe(0);
    const unknownOption = await runCli(profile('fresh'), ['groups', 'list', '--colour']);
    expect(unknownOption.code).toBe(2);
  });
});
