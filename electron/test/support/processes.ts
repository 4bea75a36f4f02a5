/**
 * Real processes for end-to-end CLI tests: the cloud server (`cloud/src/server.ts`, PGlite in a
 * temp folder) and the `machine-runtime` command (bin/machine-runtime.js), each machine in its
 * own profile folder, exactly as IT staff would run them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = path.join(ROOT, 'bin', 'machine-runtime.js');
const SERVER = path.join(ROOT, 'cloud', 'src', 'server.ts');

export interface CloudProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Stops the server (SIGTERM by default) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startCloudProcess(dataDir: string, port = 0, env: NodeJS.ProcessEnv = {}): Promise<CloudProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER, '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`cloud exited with ${code}: ${stderr}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    port: Number(new URL(url).port),
    child,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  stdin?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs `machine-runtime --profile <profile> …args` to completion. */
export function runCli(profile: string, args: string[], options: CliOptions = {}): Promise<CliResult> {
  const child = startCli(profile, args, options);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}

/** Starts `machine-runtime` and leaves it running (for `agent`). */
export function startCli(profile: string, args: string[], options: CliOptions = {}): ChildProcess {
  const child = spawn(process.execPath, [CLI, '--profile', profile, ...args], {
    cwd: ROOT,
    env: { ...process.env, MACHINE_RUNTIME_SECRET_STORE: 'file', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin!.end(options.stdin ?? '');
  return child;
}

/**
 * Runs `machine-runtime` on a pseudo-terminal (util-linux `script`), as a person at a terminal
 * would: each answer is typed once its prompt has appeared. Returns everything the terminal showed.
 */
export function runCliOnTerminal(
  profile: string,
  args: string[],
  answers: { after: string; type: string }[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, CLI, '--profile', profile, ...args].map(quote).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    cwd: ROOT,
    env: { ...process.env, MACHINE_RUNTIME_SECRET_STORE: 'file', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  let answered = 0;
  let searchFrom = 0;
  child.stdout!.on('data', (chunk) => {
    screen += chunk;
    const next = answers[answered];
    if (!next) return;
    const at = screen.indexOf(next.after, searchFrom);
    if (at >= 0) {
      searchFrom = at + next.after.length;
      answered += 1;
      child.stdin!.write(`${next.type}\r`);
    }
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code: code ?? -1, stdout: screen, stderr: '' })));
}
