/**
 * `npm run bench:join`: how long `groups join` takes end to end, and how much of it is the key
 * derivation (scrypt N=2^17, r=8, p=1 — deliberately slow, it is what protects the password).
 * Starts a real cloud (PGlite in a temp folder), registers machines in their own profiles, then
 *   1. in-process joins through the runtime core (the same code the CLI and the app run),
 *   2. the `machine-runtime groups join` command itself, as a process (what IT staff time).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCloud } from '../cloud/src/start.ts';
import { RuntimeProfile } from '../electron/runtime/profile.ts';
import { joinGroup } from '../electron/runtime/membership.ts';

const JOINS = Number(process.env.BENCH_JOINS ?? 6);
const CLI_JOINS = Number(process.env.BENCH_CLI_JOINS ?? 3);
const dir = mkdtempSync(path.join(os.tmpdir(), 'mr-bench-join-'));
const cloud = await startCloud({
  port: 0,
  host: '127.0.0.1',
  dataDir: path.join(dir, 'cloud'),
  logLevel: false,
  // The benchmark joins faster than people do: lift the per-user join rate limit.
  config: { rateLimits: { groupPerHour: 10_000, userPerMinute: 10_000, signInPerAccount: 100, signInPerAddress: 1000 } },
});

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};
/** Runs the CLI without blocking this process (the cloud answers from this event loop). */
function runCli(args: string[], input: string): Promise<{ status: number | null; stderr: string }> {
  const child = spawn(process.execPath, [path.resolve('bin/machine-runtime.js'), ...args], {
    env: { ...process.env, MACHINE_RUNTIME_SECRET_STORE: 'file' },
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  child.stdin.end(input);
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stderr })));
}

const ms = (n: number) => `${n.toFixed(0)} ms`;

try {
  const adminProfile = await RuntimeProfile.open({ profileDir: path.join(dir, 'admin'), secretStore: 'file' });
  const admin = await adminProfile.cloud(cloud.url);
  await admin.setup({ email: 'bench@example.com', password: 'bench-password-1', displayName: 'Bench' });
  const environmentId = (await admin.listEnvironments())[0]!.id;
  const { token } = await admin.createRegistrationToken(environmentId, { maxUses: JOINS + CLI_JOINS });
  const group = await admin.createGroup({ name: 'Bench group' });

  const rows: { label: string; totalMs: number; keyDerivationMs: number }[] = [];
  for (let i = 0; i < JOINS; i++) {
    const profile = await RuntimeProfile.open({ profileDir: path.join(dir, `vm${i}`), secretStore: 'file' });
    const machineCloud = await profile.cloud(cloud.url);
    await profile.registerMachine(machineCloud, { name: `bench-vm-${i}`, registrationToken: token });
    const result = await joinGroup(profile, machineCloud, group, 'bench-group-password');
    rows.push({ label: i === 0 ? 'first join (sets the password)' : `join #${i + 1}`, ...result.timings });
  }

  const cliTimes: number[] = [];
  for (let i = 0; i < CLI_JOINS; i++) {
    const profileDir = path.join(dir, `cli-vm${i}`);
    const registered = await runCli(['--profile', profileDir, '--server', cloud.url, 'register', '--token-stdin', '--name', `cli-vm-${i}`], `${token}\n`);
    if (registered.status !== 0) throw new Error(`CLI register failed: ${registered.stderr}`);
    const started = performance.now();
    const joined = await runCli(['--profile', profileDir, 'groups', 'join', '--group', 'Bench group'], 'bench-group-password\n');
    cliTimes.push(performance.now() - started);
    if (joined.status !== 0) throw new Error(`CLI join failed: ${joined.stderr}`);
  }

  const later = rows.slice(1);
  const share = (r: { totalMs: number; keyDerivationMs: number }) => `${((100 * r.keyDerivationMs) / r.totalMs).toFixed(0)} %`;
  console.log(`\ngroups join — ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, PGlite\n`);
  console.log('in-process (runtime core)                 total     key derivation  share');
  for (const r of rows) console.log(`  ${r.label.padEnd(38)}  ${ms(r.totalMs).padStart(8)}  ${ms(r.keyDerivationMs).padStart(14)}  ${share(r).padStart(5)}`);
  if (later.length) {
    const p50 = percentile(later.map((r) => r.totalMs), 50);
    const kd50 = percentile(later.map((r) => r.keyDerivationMs), 50);
    console.log(`  ${'later joins, median'.padEnd(38)}  ${ms(p50).padStart(8)}  ${ms(kd50).padStart(14)}  ${`${((100 * kd50) / p50).toFixed(0)} %`.padStart(5)}`);
  }
  console.log(`\n\`machine-runtime groups join\` as a process (start-up included), ${CLI_JOINS} runs:`);
  console.log(`  median ${ms(percentile(cliTimes, 50))}, min ${ms(Math.min(...cliTimes))}, max ${ms(Math.max(...cliTimes))}`);
} finally {
  await cloud.close();
  rmSync(dir, { recursive: true, force: true });
}
