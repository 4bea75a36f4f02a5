/**
 * Agent presence through the real `machine-runtime agent` process against a real cloud process:
 * online after start, offline after kill -9, back after the cloud restarts, a clean stop on
 * SIGTERM, and a copied profile on a host with another machine id refused as a clone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { runCli, startCli, startCloudProcess, type CloudProcess } from './support/processes.ts';

describe('machine-runtime agent', () => {
  let dir: string;
  let cloud: CloudProcess;
  const children: ChildProcess[] = [];
  const hostA = () => ({ MACHINE_RUNTIME_MACHINE_ID_FILE: path.join(dir, 'machine-id-a') });
  const hostB = () => ({ MACHINE_RUNTIME_MACHINE_ID_FILE: path.join(dir, 'machine-id-b') });
  const vm = () => path.join(dir, 'vm1');

  async function socketStatus(profile = vm(), env = hostA()): Promise<{ status?: string; cloneSuspected?: boolean }> {
    const result = await runCli(profile, ['status', '--json'], { env });
    return (JSON.parse(result.stdout) as { connection: { status: string; cloneSuspected: boolean } | null }).connection ?? {};
  }
  function agent(profile = vm(), env = hostA()): ChildProcess & { stderrText: () => string } {
    const child = startCli(profile, ['agent'], { env });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    children.push(child);
    return Object.assign(child, { stderrText: () => stderr });
  }
  const exited = (child: ChildProcess) =>
    new Promise<number | null>((resolve) =>
      child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code)),
    );

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mr-cli-agent-'));
    writeFileSync(path.join(dir, 'machine-id-a'), 'a'.repeat(32));
    writeFileSync(path.join(dir, 'machine-id-b'), 'b'.repeat(32));
    cloud = await startCloudProcess(path.join(dir, 'cloud'));
    const admin = path.join(dir, 'admin');
    expect((await runCli(admin, ['--server', cloud.url, 'setup', '--email', 'it@example.com', '--name', 'IT'], { stdin: 'admin-password-1\n' })).code).toBe(0);
    const token = (await runCli(admin, ['registration-token'])).stdout.trim();
    const registered = await runCli(vm(), ['--server', cloud.url, 'register', '--token-stdin', '--name', 'vm1'], { stdin: `${token}\n`, env: hostA() });
    expect(registered.code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await cloud?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is online while it runs, offline after kill -9, and back after a cloud restart', { timeout: 180_000 }, async () => {
    const first = agent();
    await expect.poll(async () => (await socketStatus()).status, { timeout: 30_000, interval: 500 }).toBe('Online');

    first.kill('SIGKILL');
    await exited(first);
    await expect.poll(async () => (await socketStatus()).status, { timeout: 60_000, interval: 1000 }).toBe('Offline');

    const second = agent();
    await expect.poll(async () => (await socketStatus()).status, { timeout: 30_000, interval: 500 }).toBe('Online');

    const port = cloud.port;
    await cloud.stop('SIGTERM');
    cloud = await startCloudProcess(path.join(dir, 'cloud'), port);
    await expect.poll(async () => (await socketStatus()).status, { timeout: 60_000, interval: 1000 }).toBe('Online');
    expect(second.exitCode).toBeNull();

    second.kill('SIGTERM');
    expect(await exited(second)).toBe(0);
    expect(second.stderrText()).toContain('closing the connection');
    await expect.poll(async () => (await socketStatus()).status, { timeout: 30_000, interval: 500 }).toBe('Offline');
  });

  it('refuses a profile copied to another host and marks the machine clone-suspected', { timeout: 120_000 }, async () => {
    const copy = path.join(dir, 'vm1-copy');
    cpSync(vm(), copy, { recursive: true });
    const clone = agent(copy, hostB());
    expect(await exited(clone)).toBe(5);
    expect(clone.stderrText()).toContain('MachineCloned');
    expect((await socketStatus()).cloneSuspected).toBe(true);
    const status = await runCli(copy, ['status'], { env: hostB() });
    expect(status.stdout).toContain('fingerprint differs');
  });
});
