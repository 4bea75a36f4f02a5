/**
 * `npm run bench:dispatch [-- --machines 50 --runs 2000 --engine both|pglite|postgres]`
 *
 * Starts the cloud in this process and N simulated machines — real agent code: AgentConnection
 * + RunExecutor, each with its own machine identity, token and group key — then:
 *   1. latency: queues runs one at a time while machines are free (pure dispatch latency);
 *   2. throughput: queues M no-op runs (`true` in /bin/sh) as fast as the API takes them;
 * and prints p50/p95/p99 of queued→accepted and queued→finished, and runs per second, on PGlite
 * and on PostgreSQL (DATABASE_URL's server, in a fresh database; else a private cluster started
 * here with the Debian PostgreSQL binaries). graphile-worker is not measured (not a dependency).
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startCloud, type RunningCloud } from '../cloud/src/start.ts';
import { DEFAULT_RUN_LIMITS } from '../cloud/src/config.ts';
import { TokenService } from '../cloud/src/auth/tokens.ts';
import { AgentConnection } from '../electron/runtime/agent-connection.ts';
import { RunExecutor } from '../electron/runtime/run-executor.ts';
import { secretStoreCredentialKeys } from '../electron/runtime/run-keys.ts';
import { MemorySecretStore, groupKeySecret } from '../electron/runtime/secret-store.ts';
import { createGroupKeys, serializeGroupKeys } from '../electron/runtime/group-crypto.ts';

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}
const MACHINES = Number(option('machines', '50'));
const RUNS = Number(option('runs', '2000'));
const LATENCY_SAMPLES = Number(option('latency-samples', '200'));
const ENGINE = option('engine', 'both');

interface Sample {
  accepted: number;
  finished: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

function describe(label: string, samples: Sample[]): string {
  const accepted = samples.map((s) => s.accepted);
  const finished = samples.map((s) => s.finished);
  return [
    `  ${label} (${samples.length} runs)`,
    `    queued→accepted  p50 ${fmt(percentile(accepted, 50))}  p95 ${fmt(percentile(accepted, 95))}  p99 ${fmt(percentile(accepted, 99))}`,
    `    queued→finished  p50 ${fmt(percentile(finished, 50))}  p95 ${fmt(percentile(finished, 95))}  p99 ${fmt(percentile(finished, 99))}`,
  ].join('\n');
}

/** A throwaway PostgreSQL cluster (as user postgres when we are root). */
function startPostgresCluster(): { url: string; stop(): void } {
  const root = '/usr/lib/postgresql';
  const version = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)).find((v) => existsSync(path.join(root, v, 'bin', 'initdb'))) : undefined;
  if (!version) throw new Error('PostgreSQL is not installed (apt-get install postgresql) and DATABASE_URL is not set.');
  const bin = path.join(root, version, 'bin');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mr-bench-pg-'));
  chmodSync(dir, 0o777);
  const port = 57000 + Math.floor(Math.random() * 1000);
  const asPostgres = (args: string[]) =>
    process.getuid?.() === 0 ? execFileSync('runuser', ['-u', 'postgres', '--', ...args], { stdio: ['ignore', 'ignore', 'inherit'] }) : execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] });
  const data = path.join(dir, 'data');
  asPostgres([path.join(bin, 'initdb'), '-D', data, '--auth=trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync']);
  asPostgres([
    path.join(bin, 'pg_ctl'), '-D', data, '-l', path.join(dir, 'log'), '-w', 'start',
    '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=300`,
  ]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      try {
        asPostgres([path.join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop']);
      } catch {
        /* already stopped */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function withFreshDatabase<T>(serverUrl: string, fn: (url: string) => Promise<T>): Promise<T> {
  const name = `mr_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    const again = new pg.Client({ connectionString: serverUrl });
    await again.connect();
    await again.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await again.end();
  }
}

async function bench(engine: 'pglite' | 'postgres', databaseUrl?: string): Promise<string> {
  const cloud: RunningCloud = await startCloud({
    port: 0,
    host: '127.0.0.1',
    logLevel: false,
    ...(databaseUrl ? { databaseUrl } : {}),
    config: { runs: { ...DEFAULT_RUN_LIMITS, maxQueuedPerTarget: RUNS + LATENCY_SAMPLES + 10 } },
  });
  const { db } = cloud;
  const tokens = await TokenService.load(db, 3600, () => new Date());
  const [environment] = await db.query<{ id: string }>(`INSERT INTO environments (name, is_default) VALUES ('Bench', true) RETURNING id`);
  const [user] = await db.query<{ id: string }>(
    `INSERT INTO users (email, display_name, password_hash) VALUES ('bench@example.test', 'Bench', 'no-password') RETURNING id`,
  );
  await db.query(`INSERT INTO role_assignments (environment_id, user_id, role) VALUES ($1, $2, 'MachineOwner')`, [environment!.id, user!.id]);
  const groupKeys = createGroupKeys();
  const [group] = await db.query<{ id: string }>(
    `INSERT INTO machine_groups (environment_id, owner_id, name, key_bundle, signing_public_key, encryption_public_key, key_version)
     VALUES ($1, $2, 'bench', 'b3BhcXVl', $3, $4, 1) RETURNING id`,
    [environment!.id, user!.id, groupKeys.signing.publicKey, groupKeys.encryption.publicKey],
  );
  const userToken = await tokens.issue({ kind: 'user', userId: user!.id });
  const api = async (method: string, url: string, body?: unknown) => {
    const response = await fetch(`${cloud.url}/api/v1${url}`, {
      method,
      headers: { authorization: `Bearer ${userToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = (await response.json()) as { id: string };
    if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  const connectionId = (await api('POST', '/connections', { name: 'bench', target: { type: 'MachineGroup', id: group!.id }, username: 'bench', password: 'bench-password' })).id;
  const flowId = (await api('POST', '/desktop-flows', { name: 'noop', runtime: 'shell', script: 'true' })).id;

  // N machines, each with its own identity; their agents run in a separate process (as on real
  // machines: spawning flows from the cloud's large process would measure fork(), not dispatch).
  const fleet: FleetConfig = { serverUrl: cloud.url, groupId: group!.id, groupKeys, machines: [] };
  for (let i = 0; i < MACHINES; i++) {
    const fingerprint = randomBytes(32).toString('hex');
    const [machine] = await db.query<{ id: string }>(
      `INSERT INTO machines (environment_id, owner_id, name, signing_public_key, encryption_public_key, fingerprint_hash, group_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [environment!.id, user!.id, `bench-${i}`, groupKeys.signing.publicKey, groupKeys.encryption.publicKey, fingerprint, group!.id],
    );
    fleet.machines.push({ fingerprint, token: await tokens.issue({ kind: 'machine', machineId: machine!.id }) });
  }
  const fleetProcess = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--fleet'], {
    env: { ...process.env, MR_BENCH_FLEET: JSON.stringify(fleet) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    fleetProcess.stdout!.on('data', (data: Buffer) => {
      if (data.toString().includes('ready')) resolve();
    });
    fleetProcess.once('exit', (code) => reject(new Error(`the agent fleet exited (${code})`)));
  });
  // Let every hello reach the dispatcher.
  await new Promise((r) => setTimeout(r, 500));

  const queue = () => api('POST', '/runs', { desktopFlowId: flowId, connectionId, runMode: 'Unattended' }).then((r) => r.id);
  const samplesOf = async (ids: string[]): Promise<Sample[]> => {
    const rows = await db.query<{ queued_at: Date; accepted_at: Date; finished_at: Date }>(
      `SELECT queued_at, accepted_at, finished_at FROM runs WHERE id = ANY ($1::uuid[]) AND status = 'Succeeded'`,
      [ids],
    );
    return rows.map((r) => ({ accepted: r.accepted_at.getTime() - r.queued_at.getTime(), finished: r.finished_at.getTime() - r.queued_at.getTime() }));
  };
  const waitFinished = async (ids: string[]) => {
    const until = Date.now() + 600_000;
    for (;;) {
      const [row] = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM runs WHERE id = ANY ($1::uuid[]) AND status IN ('Succeeded', 'Failed', 'Cancelled', 'TimedOut')`,
        [ids],
      );
      if (row!.n >= ids.length || Date.now() > until) return;
      await new Promise((r) => setTimeout(r, ids.length > 1 ? 250 : 5));
    }
  };

  // 1. Dispatch latency with free machines: one run at a time.
  const latencyIds: string[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const id = await queue();
    latencyIds.push(id);
    await waitFinished([id]);
  }
  const latency = await samplesOf(latencyIds);

  // 2. Throughput: M runs queued as fast as the API takes them (16 requests in flight).
  const started = Date.now();
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < RUNS) {
        next += 1;
        ids.push(await queue());
      }
    }),
  );
  const queuedAll = Date.now();
  await waitFinished(ids);
  const elapsed = (Date.now() - started) / 1000;
  const burst = await samplesOf(ids);
  const failed = ids.length - burst.length;
  fleetProcess.kill('SIGTERM');
  await new Promise((resolve) => fleetProcess.once('exit', resolve));
  await cloud.close();
  return [
    `${engine}: ${MACHINES} machines`,
    describe('one at a time (dispatch latency, machines free)', latency),
    describe(`burst of ${RUNS} runs`, burst),
    `    queued all in ${((queuedAll - started) / 1000).toFixed(1)} s; finished in ${elapsed.toFixed(1)} s → ${(burst.length / elapsed).toFixed(0)} runs/s` +
      (failed > 0 ? `  (${failed} not succeeded)` : ''),
  ].join('\n');
}

interface FleetConfig {
  serverUrl: string;
  groupId: string;
  groupKeys: ReturnType<typeof createGroupKeys>;
  machines: { fingerprint: string; token: string }[];
}

/** `--fleet`: the N agents (AgentConnection + RunExecutor each), until SIGTERM. */
async function runFleet(config: FleetConfig): Promise<void> {
  const agents: { connection: AgentConnection; executor: RunExecutor }[] = [];
  for (const machine of config.machines) {
    const secrets = new MemorySecretStore();
    await secrets.set(groupKeySecret(config.groupId), serializeGroupKeys(config.groupKeys));
    const connection = new AgentConnection({
      serverUrl: config.serverUrl,
      fingerprint: machine.fingerprint,
      version: 'bench',
      acceptsUnattended: true,
      getAccessToken: async () => machine.token,
    });
    const executor = new RunExecutor({ link: connection, keys: secretStoreCredentialKeys(secrets), acceptsUnattended: true, logFlushMs: 50 });
    connection.setRunningRunIds(() => executor.runningRunIds());
    executor.start();
    connection.start();
    agents.push({ connection, executor });
  }
  const deadline = Date.now() + 60_000;
  while (agents.some((a) => a.connection.state.status !== 'online') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    void Promise.all(agents.map(async (a) => {
      await a.executor.stop();
      await a.connection.stop();
    })).then(() => process.exit(0));
  });
}

if (process.argv.includes('--fleet')) {
  await runFleet(JSON.parse(process.env.MR_BENCH_FLEET ?? '{}') as FleetConfig);
  await new Promise(() => undefined);
}

const reports: string[] = [];
console.log(`bench:dispatch — ${MACHINES} machines, ${RUNS} runs (+${LATENCY_SAMPLES} one at a time), node ${process.version}, ${os.cpus().length} CPUs`);
if (ENGINE === 'both' || ENGINE === 'pglite') {
  reports.push(await bench('pglite'));
  console.log(reports.at(-1));
}
if (ENGINE === 'both' || ENGINE === 'postgres') {
  const cluster = process.env.DATABASE_URL ? null : startPostgresCluster();
  try {
    reports.push(await withFreshDatabase(process.env.DATABASE_URL ?? cluster!.url, (url) => bench('postgres', url)));
    console.log(reports.at(-1));
  } finally {
    cluster?.stop();
  }
}
console.log('graphile-worker: not measured (not a dependency of this project).');
process.exit(0);
