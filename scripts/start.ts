/**
 * `npm start [-- --no-open] [-- --browser]`: Machine Runtime on this computer, in one command.
 *
 *  1. The server: MACHINE_RUNTIME_SERVER when set; else the server this profile remembers (one
 *     the person signed in to); else an embedded cloud started here, in-process, with PGlite in
 *     `<profile>/cloud` on 127.0.0.1 (the same port as last time when it is free). The sign-in
 *     screen comes prefilled with it.
 *  2. The app: Electron when its binary is installed (not where the download is impossible);
 *     else browser mode: the renderer and the runtime core behind a local host, whose address
 *     (with its per-launch token) is printed as ONE line on stdout and opened in a Chromium app
 *     window (or the default browser) unless `--no-open`.
 *  3. Ctrl-C (or SIGTERM) stops the window, the agent, the host and the cloud, in that order.
 *
 * MACHINE_RUNTIME_HOME selects the state folder (the profile); everything else goes to stderr.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startCloud, type RunningCloud } from '../cloud/src/start.ts';
import { normalizeServerUrl } from '../electron/runtime/cloud-client.ts';
import { RuntimeProfile } from '../electron/runtime/profile.ts';
import { resolveProfileDir } from '../electron/runtime/settings.ts';
import { createDesktopService, type DesktopService } from '../electron/runtime/desktop-service.ts';
import { startBrowserHost, type BrowserHost } from '../electron/browser-mode/host.ts';
import { PROJECT_ROOT, ensureRendererBuilt } from '../electron/browser-mode/renderer-build.ts';

const say = (line: string) => process.stderr.write(`${line}\n`);

function usage(message: string): never {
  say(`npm start: ${message}\nusage: npm start [-- --no-open] [-- --browser]`);
  process.exit(2);
}

let args: { 'no-open'?: boolean; browser?: boolean };
try {
  args = parseArgs({ options: { 'no-open': { type: 'boolean' }, browser: { type: 'boolean' } }, strict: true }).values;
} catch (error) {
  usage((error as Error).message);
}

/** What npm start remembers about the embedded cloud, to tell it from a server the person chose. */
interface EmbeddedRecord {
  url: string;
  port: number;
}

const profileDir = resolveProfileDir();
// The folder `npm run cloud` uses by default too: both serve the same data.
const cloudDir = path.join(profileDir, 'cloud');
const recordFile = path.join(profileDir, 'embedded-cloud.json');

async function readRecord(): Promise<EmbeddedRecord | null> {
  try {
    const parsed = JSON.parse(await fs.readFile(recordFile, 'utf8')) as Partial<EmbeddedRecord>;
    return typeof parsed.url === 'string' && typeof parsed.port === 'number' ? { url: parsed.url, port: parsed.port } : null;
  } catch {
    return null;
  }
}

async function startEmbeddedCloud(preferredPort: number): Promise<RunningCloud> {
  const options = { host: '127.0.0.1', dataDir: cloudDir, logLevel: 'warn' } as const;
  try {
    return await startCloud({ ...options, port: preferredPort });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || preferredPort === 0) throw error;
    return startCloud({ ...options, port: 0 });
  }
}

/** The Electron binary, when `electron`'s install script could download it. */
function electronBinary(): string | null {
  try {
    const binary = createRequire(import.meta.url)('electron') as unknown;
    return typeof binary === 'string' && existsSync(binary) ? binary : null;
  } catch {
    return null;
  }
}

function hasDisplay(): boolean {
  return process.platform !== 'linux' || Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
}

/** A Chromium app window (its own browser profile in the state folder), else the default browser. */
function openWindow(url: string): ChildProcess | null {
  const chromium = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'].find(
    (name) => spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0,
  );
  if (chromium && process.platform === 'linux') {
    const flags = [
      `--app=${url}`,
      `--user-data-dir=${path.join(profileDir, 'browser')}`,
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
    ];
    const child = spawn(chromium, flags, { stdio: 'ignore', detached: true });
    child.on('error', () => say(`Could not start ${chromium}; open the address above in a browser.`));
    return child;
  }
  const opener = process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', url]] : ['xdg-open', [url]];
  const child = spawn(opener[0] as string, opener[1] as string[], { stdio: 'ignore', detached: true });
  child.on('error', () => say('Could not open a browser; open the address above yourself.'));
  child.unref();
  return null;
}

let cloud: RunningCloud | null = null;
let service: DesktopService | null = null;
let host: BrowserHost | null = null;
let child: ChildProcess | null = null;
let stoppingSince = 0;

async function stop(signal: string, code = 0): Promise<void> {
  if (stoppingSince) {
    // `conf`'s exit hook (when-exit) raises the signal again right away: ignore that echo; a
    // second Ctrl-C from the person, later, stops at once.
    if (Date.now() - stoppingSince > 2000) process.exit(130);
    return;
  }
  stoppingSince = Date.now();
  say(`\n${signal}: stopping Machine Runtime…`);
  const deadline = setTimeout(() => {
    say('Machine Runtime did not stop within 20 s; exiting anyway.');
    process.exit(1);
  }, 20_000);
  deadline.unref();
  if (child && child.exitCode === null && child.pid) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      child.kill('SIGTERM');
    }
  }
  await host?.close().catch(() => undefined);
  await service?.dispose().catch(() => undefined);
  await cloud?.close().catch(() => undefined);
  process.exit(code);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

try {
  const profile = await RuntimeProfile.open({ warn: say });
  const remembered = profile.settings.get('serverUrl') ?? null;
  const record = await readRecord();
  let serverUrl: string;
  const configured = process.env.MACHINE_RUNTIME_SERVER?.trim();
  if (configured) {
    serverUrl = await profile.useServer(configured);
    say(`Server: ${serverUrl} (MACHINE_RUNTIME_SERVER)`);
  } else if (remembered && (!record || normalizeServerUrl(record.url) !== remembered)) {
    serverUrl = remembered;
    say(`Server: ${serverUrl} (remembered by ${profileDir})`);
  } else {
    await fs.mkdir(cloudDir, { recursive: true, mode: 0o700 });
    cloud = await startEmbeddedCloud(record?.port ?? 0);
    serverUrl = cloud.url;
    // The embedded cloud keeps its data between launches; only its port may change, so the
    // session and the machine's registration carry over to the new address.
    profile.settings.set('serverUrl', serverUrl);
    const port = Number(new URL(serverUrl).port);
    await fs.writeFile(recordFile, `${JSON.stringify({ url: serverUrl, port } satisfies EmbeddedRecord)}\n`);
    say(`Server: embedded cloud at ${serverUrl} (data in ${cloudDir})`);
  }

  const electron = args.browser || process.env.MACHINE_RUNTIME_BROWSER_MODE === '1' ? null : electronBinary();
  if (electron) {
    say('Starting the Electron app…');
    const build = spawnSync('npm', ['run', 'build'], { stdio: ['ignore', 2, 2], cwd: PROJECT_ROOT, shell: process.platform === 'win32' });
    if (build.status !== 0) throw new Error('npm run build failed');
    child = spawn(electron, [PROJECT_ROOT], { stdio: 'inherit', env: { ...process.env, MACHINE_RUNTIME_HOME: profileDir }, detached: true });
    child.on('exit', (code) => void stop('Electron exited', code ?? 0));
  } else {
    const rendererDir = await ensureRendererBuilt(say);
    const hosted = await createDesktopService({ openedProfile: profile, defaultServerUrl: serverUrl });
    service = hosted;
    host = await startBrowserHost({ service, rendererDir, log: (line, level = 'warn') => hosted.writeLog(level, line) });
    process.stdout.write(`Machine Runtime is running at ${host.url}\n`);
    if (args['no-open']) {
      say('Open the address above in a browser. Ctrl-C stops Machine Runtime.');
    } else if (!hasDisplay()) {
      say('No display here: open the address above in a browser. Ctrl-C stops Machine Runtime.');
    } else {
      child = openWindow(host.url);
      say('Ctrl-C stops Machine Runtime.');
    }
  }
} catch (error) {
  say(`npm start: could not start Machine Runtime: ${(error as Error).message}`);
  await stop('error', 1);
}
