/**
 * Secrets typed at a terminal: hidden prompts, a new password asked twice, and the warning that
 * a group password cannot be recovered (the CLI on a real pseudo-terminal).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, runCliOnTerminal, startCloudProcess, type CloudProcess } from './support/processes.ts';

describe('machine-runtime at a terminal', () => {
  let dir: string;
  let cloud: CloudProcess;
  const admin = () => path.join(dir, 'admin');

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mr-cli-tty-'));
    cloud = await startCloudProcess(path.join(dir, 'cloud'));
  }, 60_000);
  afterAll(async () => {
    await cloud?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('asks for passwords without echoing them, twice for a new one', { timeout: 180_000 }, async () => {
    const setup = await runCliOnTerminal(admin(), ['--server', cloud.url, 'setup', '--email', 'it@example.com', '--name', 'IT'], [
      { after: 'New administrator password:', type: 'typed-secret-1' },
      { after: 'Repeat the password:', type: 'typed-secret-1' },
    ]);
    expect(setup.code).toBe(0);
    expect(setup.stdout).toContain('is its first administrator');
    expect(setup.stdout).not.toContain('typed-secret-1');

    expect((await runCli(admin(), ['groups', 'create', '--name', 'Desk'])).code).toBe(0);
    expect((await runCli(admin(), ['register', '--name', 'desk-1'])).code).toBe(0);

    const mismatch = await runCliOnTerminal(admin(), ['groups', 'join', '--group', 'Desk'], [
      { after: 'New group password:', type: 'group-secret-1' },
      { after: 'Repeat the group password:', type: 'group-secret-2' },
    ]);
    expect(mismatch.code).toBe(2);
    expect(mismatch.stdout).toContain('cannot be recovered');
    expect(mismatch.stdout).toContain('do not match');

    const join = await runCliOnTerminal(admin(), ['groups', 'join', '--group', 'Desk'], [
      { after: 'New group password:', type: 'group-secret-1' },
      { after: 'Repeat the group password:', type: 'group-secret-1' },
    ]);
    expect(join.code).toBe(0);
    expect(join.stdout).toContain('Deriving the group key');
    expect(join.stdout).toContain('Added this machine to "Desk"');
    expect(join.stdout).not.toContain('group-secret-1');
  });
});
