/**
 * `npm run bench:dispatch [-- --machines 50 --runs 2000 --latency-samples 200 --engine both|pglite|postgres]`
 *
 * Starts the cloud in this process and N simulated machines in another — real agent code:
 * AgentConnection + RunExecutor, each with its own machine identity, token and group key — and
 * measures, on PGlite and on PostgreSQL (DATABASE_URL's server, in a fresh database; else a
 * private cluster started here with the Debian PostgreSQL binaries):
 *   1. end to end, one at a time: a run is queued while machines are free (dispatch latency);
 *   2. end to end, a burst: M no-op runs (`true` in /bin/sh, a real child process each) queued
 *      through the API as fast as it takes them (16 requests in flight, from a load generator in
 *      its own process — as clients are — so that the cloud's CPU is the cloud's own);
 *   3. the cloud's own capacity, NOT end to end: the same machines with "instant" agents (the
 *      real AgentConnection, but accepting, starting and finishing each assignment at once,
 *      without a child process), for (a) a burst of M runs through the API and (b) a backlog of
 *      M runs queued beforehand (group in maintenance) that is then released: claim + assign +
 *      accept + start + finish, nothing else;
 *   4. PostgreSQL only: graphile-worker's add→start latency on the same server (its own schema,
 *      a no-op task, concurrency N), one job at a time and a burst of M, and the ratio to ours.
 * Prints p50/p95/p99 of queued→accepted and queued→finished (ms; our timestamps are the cloud's
 * clock at millisecond resolution) and runs per second, as one table.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Logger, makeWorkerUtils, run as runGraphileWorker } from 'graphile-worker';
import { startCloud, type RunningCloud } from '../cloud/src/start.ts';
import { DEFAULT_RUN_LIMITS } from '../cloud/src/config.ts';
import { TokenService } from '../cloud/src/auth/tokens.ts';
import { dispatcherOf } from '../cloud/src/runs/dispatcher.ts';
import { AgentConnection } from '../electron/runtime/agent-connection.ts';
import { RunExecutor } from '../electron/runtime/run-executor.ts';
import { secretStoreCredentialKeys } from '../electron/runtime/run-keys.ts';
import { MemorySecretStore, groupKeySecret } from '../electron/runtime/secret-store.ts';
import { createGroupKeys, serializeGroupKeys } from '../electron/runtime/group-crypto.ts';
import type { CloudMessage } from '../protocol/agent-messages.ts';

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
}
const MACHINES = Number(option('machines', '50'));
const RUNS = Number(option('runs', '2000'));
const LATENCY_SAMPLES = Number(option('latency-samples', '200'));
const ENGINE = option('engine', 'both');

// ── results ──────────────────────────────────────────────────────────────────────────────

interface Row {
  engine: string;
  scenario: string;
  /** ms from queued (added) to assigned (claimed), accepted (started) and finished; empty when not meaningful. */
  assigned: number[];
  accepted: number[];
  finished: number[];
  perSecond?: number;
  note?: string;
  /** CPU ms per run of the cloud and its database (the backlog scenario). */
  cpuPerRun?: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const cell = (value: number, width: number) => (Number.isFinite(value) ? value.toFixed(1) : '—').padStart(width);

function table(rows: Row[]): string {
  const scenarioWidth = Math.max(8, ...rows.map((r) => r.scenario.length));
  const group = (title: string, n: number) => title.padStart(n === 2 ? 17 : 26);
  const header =
    `${'engine'.padEnd(9)}${'scenario'.padEnd(scenarioWidth)}  ${group('queued→assigned', 2)}  ${group('queued→accepted ms', 3)}  ${group('queued→finished ms', 3)}  ${'runs/s'.padStart(7)}  note\n` +
    `${''.padEnd(9)}${''.padEnd(scenarioWidth)}  ${'p50'.padStart(8)}${'p99'.padStart(9)}  ${'p50'.padStart(8)}${'p95'.padStart(9)}${'p99'.padStart(9)}  ${'p50'.padStart(8)}${'p95'.padStart(9)}${'p99'.padStart(9)}`;
  const p = (values: number[], qs: number[]) => qs.map((q, i) => cell(percentile(values, q), i === 0 ? 8 : 9)).join('');
  const noted = rows.filter((r) => r.note);
  const lines = rows.map((r) => {
    const rate = r.perSecond === undefined ? '—' : r.perSecond.toFixed(0);
    return (
      `${r.engine.padEnd(9)}${r.scenario.padEnd(scenarioWidth)}  ${p(r.assigned, [50, 99])}  ${p(r.accepted, [50, 95, 99])}  ` +
      `${p(r.finished, [50, 95, 99])}  ${rate.padStart(7)}  ${r.note ? `(${noted.indexOf(r) + 1})` : ''}`.trimEnd()
    );
  });
  const rule = '─'.repeat(Math.max(...[header, ...lines].flatMap((l) => l.split('\n')).map((l) => l.length)));
  const notes = noted.map((r, i) => `(${i + 1}) ${r.engine} ${r.scenario}: ${r.note}`);
  return [header, rule, ...lines, rule, ...notes].join('\n');
}

// ── CPU accounting (Linux /proc): where the time of a run goes, whatever else the host runs ──

const TICK_MS = 1000 / 100; // USER_HZ

/** CPU ms (user + system) used so far by these processes; 0 for those gone or unreadable. */
function cpuMsOf(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime
    } catch {
      /* gone */
    }
  }
  return total;
}

/** CPU ms used by the cloud (this process), the agents and the database's backends from `start()` to `stop()`. */
function cpuMeter(agentPid: number, servers: number[]) {
  const cloud = process.cpuUsage();
  const agents = cpuMsOf([agentPid]);
  const database = cpuMsOf(servers);
  return () => {
    const used = process.cpuUsage(cloud);
    return { cloud: (used.user + used.system) / 1000, agents: cpuMsOf([agentPid]) - agents, database: cpuMsOf(servers) - database };
  };
}

function cpuNote(engine: string, cpu: { cloud: number; agents: number; database: number }, runs: number): string {
  const perRun = (ms: number) => (ms / Math.max(1, runs)).toFixed(2);
  return (
    `CPU per run: cloud ${perRun(cpu.cloud)} ms` +
    (engine === 'postgres' ? `, PostgreSQL ${perRun(cpu.database)} ms` : ' (PGlite included)') +
    `, agents ${perRun(cpu.agents)} ms`
  );
}

/** The server processes serving this database now (same host): our pool's backends. */
async function backendPids(db: RunningCloud['db']): Promise<number[]> {
  const rows = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
  return rows.map((r) => r.pid);
}

// ── PostgreSQL ───────────────────────────────────────────────────────────────────────────

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

// ── our dispatcher ───────────────────────────────────────────────────────────────────────

type FleetMode = 'real' | 'instant';

interface FleetConfig {
  mode: FleetMode;
  serverUrl: string;
  groupId: string;
  groupKeys: ReturnType<typeof createGroupKeys>;
  machines: { fingerprint: string; token: string }[];
}

async function startFleet(config: FleetConfig): Promise<ChildProcess> {
  const fleet = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--fleet'], {
    env: { ...process.env, MR_BENCH_FLEET: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    fleet.stdout!.on('data', (data: Buffer) => {
      if (data.toString().includes('ready')) resolve();
    });
    fleet.once('exit', (code) => reject(new Error(`the agent fleet exited (${code})`)));
  });
  return fleet;
}

async function stopFleet(fleet: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => fleet.once('exit', resolve));
  fleet.kill('SIGTERM');
  await exited;
}

// ── the load generator: POST /runs from its own process ─────────────────────────────────

interface LoaderConfig {
  url: string;
  token: string;
  body: unknown;
}

interface LoaderResult {
  ids: string[];
  /** CPU ms the load generator used for this burst. */
  cpuMs: number;
}

/**
 * A load generator in its own process (clients are not in the cloud's process): each line on
 * its stdin is a burst size; it queues that many runs, 16 requests in flight over keep-alive
 * connections, and answers one JSON line with their ids and its own CPU time.
 */
async function startLoader(config: LoaderConfig): Promise<{ burst(count: number): Promise<LoaderResult>; stop(): Promise<void> }> {
  const loader = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--loader'], {
    env: { ...process.env, MR_BENCH_LOADER: JSON.stringify(config) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: loader.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const next = () => new Promise<string>((resolve, reject) => {
    waiting.push(resolve);
    loader.once('exit', (code) => reject(new Error(`the load generator exited (${code})`)));
  });
  if ((await next()) !== 'ready') throw new Error('the load generator did not start');
  return {
    async burst(count) {
      const answer = next();
      loader.stdin!.write(`${count}\n`);
      return JSON.parse(await answer) as LoaderResult;
    },
    async stop() {
      const exited = new Promise((resolve) => loader.once('exit', resolve));
      loader.stdin!.end();
      await exited;
    },
  };
}

async function runLoader(config: LoaderConfig): Promise<void> {
  const url = new URL(`${config.url}/api/v1/runs`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const payload = JSON.stringify(config.body);
  const headers = { authorization: `Bearer ${config.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
  const queue = () =>
    new Promise<string>((resolve, reject) => {
      const request = http.request({ agent, hostname: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          if (response.statusCode === 202) resolve((JSON.parse(text) as { id: string }).id);
          else reject(new Error(`POST /runs: ${response.statusCode} ${text}`));
        });
      });
      request.on('error', reject);
      request.end(payload);
    });
  process.stdout.write('ready\n');
  for await (const line of createInterface({ input: process.stdin })) {
    const count = Number(line);
    const cpu = process.cpuUsage();
    const ids: string[] = [];
    let sent = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (sent < count) {
          sent += 1;
          ids.push(await queue());
        }
      }),
    );
    const used = process.cpuUsage(cpu);
    process.stdout.write(`${JSON.stringify({ ids, cpuMs: (used.user + used.system) / 1000 } satisfies LoaderResult)}\n`);
  }
  agent.destroy();
}

async function bench(engine: 'pglite' | 'postgres', databaseUrl?: string): Promise<Row[]> {
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
  const machines: FleetConfig['machines'] = [];
  for (let i = 0; i < MACHINES; i++) {
    const fingerprint = randomBytes(32).toString('hex');
    const [machine] = await db.query<{ id: string }>(
      `INSERT INTO machines (environment_id, owner_id, name, signing_public_key, encryption_public_key, fingerprint_hash, group_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [environment!.id, user!.id, `bench-${i}`, groupKeys.signing.publicKey, groupKeys.encryption.publicKey, fingerprint, group!.id],
    );
    machines.push({ fingerprint, token: await tokens.issue({ kind: 'machine', machineId: machine!.id }) });
  }
  const dispatcher = dispatcherOf(cloud.server.cloud);
  const fleetOf = async (mode: FleetMode) => {
    const fleet = await startFleet({ mode, serverUrl: cloud.url, groupId: group!.id, groupKeys, machines });
    // Every hello has reached the dispatcher.
    while (dispatcher.localMachineIds().length < MACHINES) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    return fleet;
  };

  const runBody = { desktopFlowId: flowId, connectionId, runMode: 'Unattended' };
  const queue = () => api('POST', '/runs', runBody).then((r) => r.id);
  /** M runs through the API, 16 requests in flight, from the load generator's process. */
  const loader = await startLoader({ url: cloud.url, token: userToken, body: runBody });
  let loaderCpuMs = 0;
  const queueMany = async (count: number) => {
    const { ids, cpuMs } = await loader.burst(count);
    loaderCpuMs = cpuMs;
    return ids;
  };
  const samplesOf = async (ids: string[]) => {
    const rows = await db.query<{ queued_at: Date; assigned_at: Date; accepted_at: Date; finished_at: Date }>(
      `SELECT queued_at, assigned_at, accepted_at, finished_at FROM runs WHERE id = ANY ($1::uuid[]) AND status = 'Succeeded'`,
      [ids],
    );
    return {
      assigned: rows.map((r) => r.assigned_at.getTime() - r.queued_at.getTime()),
      accepted: rows.map((r) => r.accepted_at.getTime() - r.queued_at.getTime()),
      finished: rows.map((r) => r.finished_at.getTime() - r.queued_at.getTime()),
      failed: ids.length - rows.length,
    };
  };
  const waitFinished = async (ids: string[]) => {
    const until = Date.now() + 600_000;
    for (;;) {
      const [row] = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM runs WHERE id = ANY ($1::uuid[]) AND status IN ('Succeeded', 'Failed', 'Cancelled', 'TimedOut')`,
        [ids],
      );
      if (row!.n >= ids.length || Date.now() > until) return;
      await new Promise((r) => setTimeout(r, ids.length > 1 ? 50 : 2));
    }
  };
  const notSucceeded = (failed: number) => (failed > 0 ? `${failed} runs did not succeed` : undefined);
  const rows: Row[] = [];

  // 1 and 2: end to end, a real child process per run.
  const real = await fleetOf('real');
  const latencyIds: string[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const id = await queue();
    latencyIds.push(id);
    await waitFinished([id]);
  }
  const latency = await samplesOf(latencyIds);
  rows.push({ engine, scenario: `one at a time, real agents (${LATENCY_SAMPLES})`, ...latency, note: notSucceeded(latency.failed) });

  let started = Date.now();
  const burstIds = await queueMany(RUNS);
  const queuedIn = (Date.now() - started) / 1000;
  await waitFinished(burstIds);
  let elapsed = (Date.now() - started) / 1000;
  const burst = await samplesOf(burstIds);
  rows.push({
    engine,
    scenario: `burst of ${RUNS}, real agents`,
    ...burst,
    perSecond: burst.accepted.length / elapsed,
    note: notSucceeded(burst.failed) ?? `API took them in ${queuedIn.toFixed(1)} s (${(RUNS / queuedIn).toFixed(0)}/s)`,
  });
  await stopFleet(real);

  // 3. The cloud's own capacity: instant agents, no child process.
  const instant = await fleetOf('instant');
  const servers = engine === 'postgres' ? await backendPids(db) : [];
  let meter = cpuMeter(instant.pid!, servers);
  started = Date.now();
  const instantIds = await queueMany(RUNS);
  const instantQueuedIn = (Date.now() - started) / 1000;
  await waitFinished(instantIds);
  elapsed = (Date.now() - started) / 1000;
  const instantCpu = meter();
  const instantBurst = await samplesOf(instantIds);
  rows.push({
    engine,
    scenario: `burst of ${RUNS}, instant agents*`,
    ...instantBurst,
    perSecond: instantBurst.accepted.length / elapsed,
    note:
      notSucceeded(instantBurst.failed) ??
      `API took them in ${instantQueuedIn.toFixed(1)} s (${(RUNS / instantQueuedIn).toFixed(0)}/s); ${cpuNote(engine, instantCpu, instantBurst.accepted.length)}, ` +
        `load generator ${(loaderCpuMs / Math.max(1, instantBurst.accepted.length)).toFixed(2)} ms`,
  });

  await db.query('UPDATE machine_groups SET maintenance = true WHERE id = $1', [group!.id]);
  const backlogIds = await queueMany(RUNS);
  await db.query('UPDATE machine_groups SET maintenance = false WHERE id = $1', [group!.id]);
  // CPU of each part while the backlog drains (PGlite runs inside the cloud process).
  meter = cpuMeter(instant.pid!, engine === 'postgres' ? await backendPids(db) : []);
  started = Date.now();
  await dispatcher.sweep(); // what ending maintenance does (the next sweep), without waiting for it
  await waitFinished(backlogIds);
  elapsed = (Date.now() - started) / 1000;
  const cpu = meter();
  const backlog = await samplesOf(backlogIds);
  rows.push({
    engine,
    scenario: `backlog of ${RUNS}, instant agents**`,
    assigned: [],
    accepted: [],
    finished: [],
    perSecond: backlog.accepted.length / elapsed,
    note: notSucceeded(backlog.failed) ?? `drained in ${elapsed.toFixed(1)} s; ${cpuNote(engine, cpu, backlog.accepted.length)}`,
    cpuPerRun: (cpu.cloud + cpu.database) / Math.max(1, backlog.accepted.length),
  });
  await stopFleet(instant);
  await loader.stop();
  await cloud.close();
  return rows;
}

// ── graphile-worker, for comparison ──────────────────────────────────────────────────────

async function benchGraphileWorker(connectionString: string): Promise<Row[]> {
  const schema = 'graphile_worker_bench';
  const silent = new Logger(() => () => undefined);
  const startedAt = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  // Our own pool, so that it is closed (and its errors handled) before the database is dropped.
  const pool = new pg.Pool({ connectionString, max: MACHINES + 2 });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  const runner = await runGraphileWorker({
    pgPool: pool,
    schema,
    concurrency: MACHINES,
    noHandleSignals: true,
    pollInterval: 2000,
    logger: silent,
    taskList: {
      noop: async (payload) => {
        const id = (payload as { id: string }).id;
        startedAt.set(id, performance.now());
        waiters.get(id)?.();
      },
    },
  });
  const utils = await makeWorkerUtils({ pgPool: pool, schema, logger: silent });
  const addedAt = new Map<string, number>();
  const add = async (id: string) => {
    addedAt.set(id, performance.now());
    await utils.addJob('noop', { id });
  };
  const latencies = (ids: string[]) => ids.flatMap((id) => (startedAt.has(id) ? [startedAt.get(id)! - addedAt.get(id)!] : []));

  // Warm up (prepared statements, pool), as our cloud is warm when measured.
  for (let i = 0; i < 20; i++) {
    const id = `warm-${i}`;
    const started = new Promise<void>((resolve) => waiters.set(id, resolve));
    await add(id);
    await started;
  }
  const oneAtATime: string[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const id = `one-${i}`;
    const started = new Promise<void>((resolve) => waiters.set(id, resolve));
    oneAtATime.push(id);
    await add(id);
    await started;
  }
  const burst = Array.from({ length: RUNS }, (_, i) => `burst-${i}`);
  const allStarted = Promise.all(burst.map((id) => new Promise<void>((resolve) => waiters.set(id, resolve))));
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < burst.length) await add(burst[next++]!);
    }),
  );
  await allStarted;
  const seconds = (performance.now() - t0) / 1000;
  await utils.release();
  await runner.stop();
  await pool.end();
  return [
    { engine: 'postgres', scenario: `graphile-worker, one at a time (${LATENCY_SAMPLES})`, assigned: [], accepted: latencies(oneAtATime), finished: [] },
    { engine: 'postgres', scenario: `graphile-worker, burst of ${RUNS}`, assigned: [], accepted: latencies(burst), finished: [], perSecond: RUNS / seconds },
  ];
}

function ratios(ours: number[], theirs: number[], ps: number[]): string {
  return ps
    .map((p) => {
      const ratio = percentile(theirs, p) / percentile(ours, p);
      return `p${p} ×${Number.isFinite(ratio) ? ratio.toFixed(1) : '—'}`;
    })
    .join(' ');
}

// ── the agents ───────────────────────────────────────────────────────────────────────────

/** `--fleet`: the N agents until SIGTERM — real (AgentConnection + RunExecutor) or instant. */
async function runFleet(config: FleetConfig): Promise<void> {
  const stops: (() => Promise<void>)[] = [];
  const connections: AgentConnection[] = [];
  for (const machine of config.machines) {
    const connection = new AgentConnection({
      serverUrl: config.serverUrl,
      fingerprint: machine.fingerprint,
      version: 'bench',
      acceptsUnattended: true,
      getAccessToken: async () => machine.token,
    });
    if (config.mode === 'real') {
      const secrets = new MemorySecretStore();
      await secrets.set(groupKeySecret(config.groupId), serializeGroupKeys(config.groupKeys));
      const executor = new RunExecutor({ link: connection, keys: secretStoreCredentialKeys(secrets), acceptsUnattended: true, logFlushMs: 50 });
      connection.setRunningRunIds(() => executor.runningRunIds());
      executor.start();
      stops.push(async () => {
        await executor.stop();
        await connection.stop();
      });
    } else {
      // Not a flow runner: the socket protocol only, to measure what the cloud can dispatch.
      connection.on('message', (message: CloudMessage) => {
        if (message.type !== 'assign') return;
        const ref = { runId: message.runId, attempt: message.attempt };
        connection.send({ type: 'accepted', ...ref });
        connection.send({ type: 'started', ...ref });
        connection.send({ type: 'finished', ...ref, status: 'Succeeded', outputs: null, error: null });
      });
      stops.push(() => connection.stop());
    }
    connection.start();
    connections.push(connection);
  }
  const deadline = Date.now() + 60_000;
  while (connections.some((c) => c.state.status !== 'online') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    void Promise.all(stops.map((stop) => stop())).then(() => process.exit(0));
  });
}

if (process.argv.includes('--loader')) {
  await runLoader(JSON.parse(process.env.MR_BENCH_LOADER ?? '{}') as LoaderConfig);
  process.exit(0);
}

if (process.argv.includes('--fleet')) {
  await runFleet(JSON.parse(process.env.MR_BENCH_FLEET ?? '{}') as FleetConfig);
  await new Promise(() => undefined);
}

// ── main ─────────────────────────────────────────────────────────────────────────────────

const began = Date.now();
console.log(
  `bench:dispatch — ${MACHINES} machines, ${RUNS} runs per burst (+${LATENCY_SAMPLES} one at a time), node ${process.version}, ` +
    `${os.cpus().length} CPUs, load average ${os.loadavg()[0]!.toFixed(1)} at start`,
);
const rows: Row[] = [];
let comparison: string[] = [];
if (ENGINE === 'both' || ENGINE === 'pglite') {
  rows.push(...(await bench('pglite')));
  console.error(`  pglite done (${((Date.now() - began) / 1000).toFixed(0)} s)`);
}
if (ENGINE === 'both' || ENGINE === 'postgres') {
  const cluster = process.env.DATABASE_URL ? null : startPostgresCluster();
  try {
    await withFreshDatabase(process.env.DATABASE_URL ?? cluster!.url, async (url) => {
      const ours = await bench('postgres', url);
      console.error(`  postgres done (${((Date.now() - began) / 1000).toFixed(0)} s)`);
      const theirs = await benchGraphileWorker(url);
      rows.push(...ours, ...theirs);
      const [one, burst, instantBurst, backlog] = ours as [Row, Row, Row, Row];
      const [gOne, gBurst] = theirs as [Row, Row];
      comparison = [
        'graphile-worker add→start ÷ ours on PostgreSQL (above 1: ours is faster; below 1: graphile-worker is):',
        `  one at a time  vs our queued→accepted ${ratios(one.accepted, gOne.accepted, [50, 95, 99])}   vs our →assigned ${ratios(one.assigned, gOne.accepted, [50, 99])}`,
        `  burst          vs our queued→accepted ${ratios(instantBurst.accepted, gBurst.accepted, [50, 95, 99])} with instant agents (both no-op), ` +
          `${ratios(burst.accepted, gBurst.accepted, [50, 99])} with real agents (runs wait for a machine that is still forking the previous one)`,
        `  throughput     graphile-worker ${gBurst.perSecond!.toFixed(0)} jobs/s (no-op, in process); ours ${burst.perSecond!.toFixed(0)} runs/s end to end, ` +
          `${instantBurst.perSecond!.toFixed(0)} with instant agents through the API, ${backlog.perSecond!.toFixed(0)} for the dispatcher alone`,
      ];
      if (backlog.cpuPerRun !== undefined) {
        comparison.push(
          `Where the limit is: the dispatcher costs ${backlog.cpuPerRun.toFixed(2)} ms of CPU per run (cloud + PostgreSQL, while the backlog drains), ` +
            `i.e. at most ~${(1000 / backlog.cpuPerRun).toFixed(0)} runs/s per core given to them; end to end, each run also forks a process on its machine.`,
        );
      }
    });
  } finally {
    cluster?.stop();
  }
}
console.log('');
console.log(table(rows));
console.log('');
console.log(
  [
    'Times are from the cloud\'s clock (ms resolution): queued = POST /runs wrote it (its transaction then commits),',
    '→assigned = the dispatcher began the claim that assigned it (the cloud\'s part), accepted = the agent\'s "accepted" was',
    'recorded (adds the WebSocket round trip to the agent process, which first opens the sealed credentials), finished = its',
    'result was recorded. Real agents start a child process (/bin/sh -c true) per run.',
    '*  instant agents: the real agent socket code (AgentConnection) answering accepted/started/finished at once, with no',
    '   child process — NOT end to end: it shows what the cloud (API + dispatcher + database) can do, not what machines can.',
    '** backlog: runs queued while the group was in maintenance, then released at once: the dispatcher alone (claim + assign',
    '   + accept + start + finish per run), no API in the loop.',
    'Bursts through the API come from a load generator in its own process (16 requests in flight on keep-alive',
    '   connections), as clients would; "cloud" CPU is the cloud process alone, the load generator\'s is given apart.',
    `graphile-worker ${graphileVersion()}: add→start of a no-op task, in its own schema on the same PostgreSQL server,`,
    `   concurrency ${MACHINES}, worker in the same process as the adder (no network hop to a machine); shown in the queued→accepted columns.`,
    ...comparison,
    `Took ${((Date.now() - began) / 1000).toFixed(0)} s.`,
  ].join('\n'),
);
process.exit(0);

function graphileVersion(): string {
  return (createRequire(import.meta.url)('graphile-worker/package.json') as { version: string }).version;
}
